"""Errors of the scripted test server."""

from services.errors import ParleyError


class ScriptError(ParleyError):
    """A directive or a ``/_script`` value is malformed; ``str()`` names it and says what is expected."""
