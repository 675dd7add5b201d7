"""solarfleet: monitor and steer solar inverters and home batteries behind the partner API v2.0."""

__version__ = "0.1.0"
