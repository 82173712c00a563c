"""Run the command line interface: ``python -m monitor``."""

from monitor.cli import main

raise SystemExit(main())
