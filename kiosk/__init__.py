"""Hybrid Room Kiosk: readiness controller for hybrid child protection conference suites."""

__version__ = "0.1.0"
