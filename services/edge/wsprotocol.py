"""uvicorn's WebSocket protocol with Parley's close codes (docs/protocol.md):

- a peer that does not answer the server's ping within ``ws_ping_timeout`` is closed with 4002
  (uvicorn says 1011);
- on shutdown open sockets are closed with 1001 "going away" (uvicorn says 1012), so clients
  reconnect with ``after_seq`` to another edge.

The pings themselves are uvicorn's (``ws_ping_interval``): WebSocket control frames, answered
by every browser and client library without application code.

Once the handshake is answered, its request and response are dropped: uvicorn keeps both (with
their header objects, ~3 KiB) for the socket's whole life and reads neither again.

``write_frames`` writes text frames at once, in one write, without ASGI's awaited ``send`` (a
message dict, Starlette's and uvicorn's checks, and a task to await it in): a socket's frames are
written from a callback after the bridge's fan-out, when ``ready`` says ``send`` would not wait.
It frames them itself: a server's frame is a two- or four-byte header and the payload (no mask;
no extension, since permessage-deflate is declined), where websockets' ``send_text`` built a
``Frame`` object and serialized it in Python for every frame (~2 us).
"""

from __future__ import annotations

import struct
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

from services.edge import metrics

CLOSE_GOING_AWAY = 1001
CLOSE_HEARTBEAT = 4002

_TEXT = 0x81  # FIN + text opcode
_SHORT = [bytes((_TEXT, n)) for n in range(126)]  # the header of a payload under 126 bytes
_MEDIUM = struct.Struct("!BBH")  # 126 + a 16-bit length
_LONG = struct.Struct("!BBQ")  # 127 + a 64-bit length


def _header(size: int) -> bytes:
    if size < 126:
        return _SHORT[size]
    if size < 65536:
        return _MEDIUM.pack(_TEXT, 126, size)
    return _LONG.pack(_TEXT, 127, size)


class EdgeWebSocketProtocol(WebSocketsSansIOProtocol):
    def start_keepalive(self) -> None:
        # Called once, right after the handshake's response is written.
        self.request = self.response = None
        super().start_keepalive()

    def ready(self) -> bool:
        """Whether ``write_texts`` may write now: ``send`` would write at once (the write buffer
        is under its high-water mark, the socket open, its handshake answered)."""
        return (
            self.handshake_complete
            and not self.close_sent
            and not self.disconnected
            and self.initial_response is None
            and self.writable.is_set()
            and self.conn.state is State.OPEN
            and not self.transport.is_closing()
        )

    def write_frames(self, payloads: list[bytes]) -> None:
        """Write ``payloads`` (UTF-8 text) as text frames, in one write (call only when ``ready``)."""
        conn = self.conn
        if conn.extensions:  # never negotiated here; if one were, it must see every frame
            for payload in payloads:
                conn.send_text(payload)
            self.transport.write(b"".join(conn.data_to_send()))
            return
        # Whatever websockets has queued (uvicorn writes it out at once, so normally nothing) first.
        out = conn.data_to_send()
        for payload in payloads:
            out.append(_header(len(payload)))
            out.append(payload)
        self.transport.write(b"".join(out))

    def keepalive_timeout(self) -> None:
        self.pong_timer = None
        self.pending_ping_payload = None
        if self.close_sent or self.transport.is_closing():
            return
        metrics.HEARTBEAT_MISSES.inc()
        metrics.WS_CLOSED.labels(str(CLOSE_HEARTBEAT)).inc()
        self.conn.fail(CLOSE_HEARTBEAT, "heartbeat missed")
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        self.transport.close()

    def shutdown(self) -> None:
        if self.handshake_complete and not self.close_sent and not self.transport.is_closing():
            self.stop_keepalive()
            metrics.WS_CLOSED.labels(str(CLOSE_GOING_AWAY)).inc()
            self.queue.put_nowait({"type": "websocket.disconnect", "code": CLOSE_GOING_AWAY})
            self.conn.send_close(CLOSE_GOING_AWAY, "server shutting down; reconnect with after_seq")
            self.transport.write(b"".join(self.conn.data_to_send()))
            self.close_sent = True
            self.transport.close()
            return
        super().shutdown()


def writer_of(send: Any) -> EdgeWebSocketProtocol | None:
    """The protocol behind an ASGI ``send`` (uvicorn passes its bound ``send``), if it is ours."""
    protocol = getattr(send, "__self__", None)
    return protocol if isinstance(protocol, EdgeWebSocketProtocol) else None
