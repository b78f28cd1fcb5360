"""breachkit: forensic evidence preservation and breach response."""

__version__ = "0.1.0"  # the one place the version is set; pyproject.toml reads it
