"""Errors of the projections package."""


class ProjectionError(Exception):
    """Base of every error in ``projections``."""


class MigrationError(ProjectionError):
    """A migration file is malformed or failed to apply; names the file."""


class InvalidCursor(ProjectionError, ValueError):
    """A ``before`` paging cursor that is neither a time nor a message of the session; says which."""


class Unappliable(ProjectionError):
    """A well-formed event that cannot be applied to the read models (unknown session, ...).

    The worker terminates it and records it as a dead letter with this message as the reason.
    """
