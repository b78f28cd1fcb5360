"""evidence: collectors (PostgreSQL, AWS, files) that stage Parquet artifacts, and evidence stores."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("breachkit")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
