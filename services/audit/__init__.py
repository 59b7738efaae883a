"""Audit and analytics: the conversation rebuilt from events alone (``conversation``, ``render``,
``replay``), read straight from JetStream (``reader``)."""
