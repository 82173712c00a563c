"""Alerts: rendering (render), sending through apprise (channels), the outbox (deliver)."""
