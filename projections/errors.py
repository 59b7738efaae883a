"""Errors of the projections package."""


class ProjectionError(Exception):
    """Base of every error in ``projections``."""


class MigrationError(ProjectionError):
    """A migration file is malformed or failed to apply; names the file."""
