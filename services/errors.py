"""Errors shared by every Parley process."""


class ParleyError(Exception):
    """Base of Parley's own errors."""


class SettingsError(ParleyError):
    """A setting is missing or malformed. ``str()`` is one line that names the variable."""


class StartupError(ParleyError):
    """A dependency (NATS, PostgreSQL, the local model) could not be started or reached."""


class BackupError(ParleyError):
    """A backup could not be written or read, or a restore target is not empty."""


class PullError(Exception):
    """The server ended a pull with an error (consumer deleted, leadership change, no stream).
    NATS trouble like any other, not a ``ParleyError``: the reader re-syncs (a projection worker)
    or makes its consumer again (a generation worker) and goes on."""
