"""The version of the core package, on its own so any module can record it without importing arctl's API."""

__version__ = "0.1.0"
