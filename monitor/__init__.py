"""news-monitor: watch the news with YAML rules and send one alert per real-world event."""

__version__ = "0.1.0"
