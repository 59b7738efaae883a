"""Server-sent events from the bytes of a streamed response (pure): the ``data`` of each event.

Only what an OpenAI-compatible stream uses: ``data:`` fields (several in one event are joined
by a newline), events ended by a blank line, comment lines (``: OPENROUTER PROCESSING``)
skipped, ``event``/``id``/``retry`` ignored. Lines end in ``\\n`` or ``\\r\\n`` (a lone ``\\r``,
allowed by the spec, is used by no provider we know). Bytes are split into lines before they
are decoded, so a UTF-8 character cut between two reads is whole again.
"""

from __future__ import annotations


class Decoder:
    """``feed(bytes)`` -> the data of every event those bytes completed, in order."""

    __slots__ = ("_data", "_rest")

    def __init__(self) -> None:
        self._rest = b""  # an unfinished line
        self._data: list[str] = []  # data lines of the event being read

    def feed(self, chunk: bytes) -> list[str]:
        # Providers flush one event per token, and a read usually holds exactly one:
        # ``data: <json>\n\n``. That case is sliced out whole (a third of the general loop's time).
        if (
            not self._rest
            and not self._data
            and chunk.startswith(b"data: ")
            and chunk.find(b"\n") == len(chunk) - 2
            and chunk.endswith(b"\n\n")
            and not chunk.endswith(b"\r\n\n")
        ):
            return [chunk[6:-2].decode("utf-8", "replace")]
        *lines, self._rest = (self._rest + chunk).split(b"\n")
        events: list[str] = []
        for raw in lines:
            line = raw[:-1] if raw.endswith(b"\r") else raw
            if not line:
                if self._data:
                    events.append("\n".join(self._data))
                    self._data = []
            elif line.startswith(b"data:"):
                value = line[5:]
                self._data.append((value[1:] if value.startswith(b" ") else value).decode("utf-8", "replace"))
            # other fields and comments: nothing an answer needs
        return events

    def end(self) -> list[str]:
        """At the end of the body: an event the server did not close with a blank line."""
        events = self.feed(b"\n\n") if self._rest or self._data else []
        self._rest, self._data = b"", []
        return events
