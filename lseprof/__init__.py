"""lseprof: find where aarch64 programs lose time to atomic helpers and contention."""

__version__ = "0.1.0"
