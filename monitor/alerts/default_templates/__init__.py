"""Packaged default alert templates (package data read by monitor.alerts.templates)."""
