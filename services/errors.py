"""Errors shared by every Parley process."""


class ParleyError(Exception):
    """Base of Parley's own errors."""


class SettingsError(ParleyError):
    """A setting is missing or malformed. ``str()`` is one line that names the variable."""


class StartupError(ParleyError):
    """A dependency (NATS, PostgreSQL, the local model) could not be started or reached."""


class BackupError(ParleyError):
    """A backup could not be written or read, or a restore target is not empty."""
