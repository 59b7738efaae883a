"""Errors of the event contract."""


class EventError(Exception):
    """Base of every error in ``events``."""


class EventDecodeError(EventError):
    """Bytes that are not a known, well-formed Parley event. The message says what is wrong."""


class InvalidSubjectToken(EventError):
    """An id that cannot be one token of a NATS subject (empty, or holds '.', '*', '>', space)."""
