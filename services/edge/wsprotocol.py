"""uvicorn's WebSocket protocol with Parley's close codes (docs/protocol.md):

- a peer that does not answer the server's ping within ``ws_ping_timeout`` is closed with 4002
  (uvicorn says 1011);
- on shutdown open sockets are closed with 1001 "going away" (uvicorn says 1012), so clients
  reconnect with ``after_seq`` to another edge.

The pings themselves are uvicorn's (``ws_ping_interval``): WebSocket control frames, answered
by every browser and client library without application code.

Once the handshake is answered, its request and response are dropped: uvicorn keeps both (with
their header objects, ~3 KiB) for the socket's whole life and reads neither again.
"""

from __future__ import annotations

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from services.edge import metrics

CLOSE_GOING_AWAY = 1001
CLOSE_HEARTBEAT = 4002


class EdgeWebSocketProtocol(WebSocketsSansIOProtocol):
    def start_keepalive(self) -> None:
        # Called once, right after the handshake's response is written.
        self.request = self.response = None
        super().start_keepalive()

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
