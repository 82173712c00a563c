"""Rules: what users write (schema), reading files (load), compiling (compile), matching (match)."""
