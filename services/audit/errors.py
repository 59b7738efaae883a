"""Errors of the audit package."""

from services.errors import ParleyError


class AuditError(ParleyError):
    """Base of every error in ``services.audit``; the CLI prints it as one line, exit 2."""


class UnknownSession(AuditError):
    """No stored event belongs to this session."""


class BadExport(AuditError):
    """A document that cannot be imported (not a Parley export, or inconsistent); says why."""
