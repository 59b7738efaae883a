"""Errors of the audit package."""

from services.errors import ParleyError


class AuditError(ParleyError):
    """Base of every error in ``services.audit``; the CLI prints it as one line, exit 2."""


class UnknownSession(AuditError):
    """No stored event belongs to this session."""
