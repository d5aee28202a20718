"""predeploy: pre-release security testing of frontier AI models."""

__version__ = "0.1.0"
