"""One benchmark client: a WebSocket to one session, speaking docs/protocol.md.

A chat client sends a prompt, reads its answer to the end (checking every token frame for gaps
and duplicates by ``index``/``token_index`` per ``(message_id, attempt)``), then sends the next,
until the deadline. A socket the server closes with a resumable code is reopened with
``after_seq`` like a real client would, and counted. Every prompt carries a unique nonce so the
coordinator can join receive times to the provider's emit times.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, deque
from typing import Any

import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from services.bench.plan import BUCKET_S, Answer, Plan, Replay
from services.bench.sequence import Checker

# Close codes after which a client reconnects with after_seq (docs/protocol.md); also 1006/1011:
# a dropped connection is what resume exists for.
RESUMABLE = {1001, 1006, 1011, 1012, 4002, 4008}
WS_PATH = "/api/v1/chat/websocket/{session_id}"

_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode


def prompt(nonce: str, tokens: int, rate: float) -> str:
    """The prompt text: the nonce (to find the provider's record) and the scripted-LLM directives."""
    return f"bench:{nonce} [[tokens:{tokens}]] [[rate:{rate:g}]]"


def ws_url(base_url: str, session_id: str, after_seq: int | None) -> str:
    url = base_url.replace("http://", "ws://", 1).replace("https://", "wss://", 1) + WS_PATH.format(
        session_id=session_id
    )
    return url if after_seq is None else f"{url}?after_seq={after_seq}"


class Tally:
    """What all clients of one process saw, beyond their answers."""

    def __init__(self, t0: float = 0.0) -> None:
        self.t0 = t0
        self.frames = 0
        self.by_type: Counter[str] = Counter()
        self.buckets: Counter[int] = Counter()
        self.errors: list[str] = []
        self.reconnects: Counter[str] = Counter()
        self.restarts = 0  # answers another generation worker took over (attempt + 1)
        self.checker = Checker()

    def frame(self, type_: str, at: float) -> None:
        self.frames += 1
        self.by_type[type_] += 1
        self.buckets[int((at - self.t0) // BUCKET_S)] += 1


class Client:
    def __init__(self, plan: Plan, number: int, session_id: str, tally: Tally) -> None:
        self.plan, self.number, self.session_id, self.tally = plan, number, session_id, tally
        self.ws: ClientConnection | None = None
        self.last_seq = 0
        self.stored_frames = 0  # frames with a sequence number (stored events)
        self.answers: list[Answer] = []
        self.backlog: deque[tuple[dict[str, Any], float]] = deque()  # replayed frames kept by ``open``

    async def connect(self, after_seq: int | None = 0) -> None:
        """Open the socket (frames are read by the caller)."""
        self.ws = await connect(
            ws_url(self.plan.base_url, self.session_id, after_seq),
            compression=None,
            max_size=None,
            ping_interval=None,  # the server pings; the library answers on its own
            open_timeout=60,
            close_timeout=2,
            max_queue=None,
        )

    async def open(self, after_seq: int | None = 0, *, keep_replay: bool = False) -> None:
        """Connect and read until the server says ``live`` (replay after ``after_seq`` done).
        ``keep_replay``: the replayed frames are read again by ``follow`` (a resume mid-answer:
        they are the answer's, and skipping them would look like a gap)."""
        await self.connect(after_seq)
        self.backlog.clear()
        while True:
            frame, at = await self._receive()
            if frame["type"] == "connectionStatus" and frame["data"].get("status") == "live":
                return
            if keep_replay:
                self.backlog.append((frame, at))

    async def replay(self) -> Replay:
        """The whole session from ``after_seq=0`` until ``live``; then the socket is closed."""
        started = time.time()
        before = self.stored_frames
        await self.open(0)
        live = time.time()
        await self.close()
        return Replay(self.session_id, self.stored_frames - before, started, live)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()

    async def _read(self) -> tuple[dict[str, Any], float]:
        if self.backlog:
            return self.backlog.popleft()
        return await self._receive()

    async def _receive(self) -> tuple[dict[str, Any], float]:
        assert self.ws is not None
        raw = await self.ws.recv()
        at = time.time()
        frame = _decode(raw)
        self.tally.frame(frame["type"], at)
        if frame.get("seq") is not None:
            self.stored_frames += 1
            self.last_seq = max(self.last_seq, frame["seq"])
        return frame, at

    async def _next(self) -> tuple[dict[str, Any], float] | None:
        """The next frame; None after a resumable close (the socket is reopened with after_seq)."""
        try:
            return await self._read()
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd is not None else 1006
            if code not in RESUMABLE:
                raise
            self.tally.reconnects[str(code)] += 1
            await self.open(self.last_seq, keep_replay=True)
            return None

    async def run(self, t0: float, deadline: float) -> None:
        """Prompts in a loop from this client's start (staggered) until ``deadline``."""
        total = self.plan.total_clients or self.plan.clients
        start = t0 + self.plan.stagger_s * self.number / total
        # asyncio may wake a timer a hair early; a prompt sent before t0 would fall out of the window
        await asyncio.sleep(max(0.0, start - time.time()) + 0.001)
        n = 0
        while time.time() < deadline:
            try:
                await self.ask(f"{self.plan.run}.{self.number}.{n}")
            except ConnectionClosed as exc:
                self.tally.errors.append(f"client {self.number}: socket closed: {exc}")
                return
            except asyncio.CancelledError:
                await self.stop_unfinished()
                raise
            n += 1

    async def stop_unfinished(self) -> None:
        """The run is over and this answer is still streaming: press stop, as a user leaving would,
        so an overloaded system does not go on generating into the next scenario."""
        answer = self.answers[-1] if self.answers else None
        if answer is None or answer.outcome != "unfinished" or not answer.message_id or self.ws is None:
            return
        frame = _encode({"type": "cancel", "message_id": answer.message_id}).decode()
        try:
            async with asyncio.timeout(1.0):
                await self.ws.send(frame)
        except Exception:  # the socket may be gone already: nothing more to stop
            pass

    async def ask(self, nonce: str, stop_after_tokens: int | None = None, scheduled_at: float = 0.0) -> Answer:
        """Send a prompt and read its answer to the end (or until ``stop_after_tokens``)."""
        answer = Answer(nonce=nonce, sent_at=time.time(), scheduled_at=scheduled_at)
        self.answers.append(answer)
        send = _encode(
            {"type": "send", "content": prompt(nonce, self.plan.tokens, self.plan.rate), "client_message_id": nonce}
        ).decode()
        assert self.ws is not None
        await self.ws.send(send)
        return await self.follow(answer, send, stop_after_tokens)

    async def follow(self, answer: Answer, send: str | None = None, stop_after_tokens: int | None = None) -> Answer:
        """Read frames until ``answer`` ends. Without ``answer.message_id`` the answer is found by
        its prompt's ``client_message_id`` (the nonce); ``send`` is resent after a reconnect while
        the answer has not been seen. Seeing the prompt stored is not enough: an edge killed
        between its two writes stores the message but no request for its answer, and only a send
        again (the same ``client_message_id``: nothing is stored twice) requests it."""
        user_id: str | None = None
        received = sum(count for _, count, _, _ in answer.tokens)
        try:
            async with asyncio.timeout(self.plan.answer_timeout_s):
                while True:
                    got = await self._next()
                    if got is None:  # reopened
                        if send is not None and not answer.message_id:
                            answer.resent += 1
                            assert self.ws is not None
                            await self.ws.send(send)
                        continue
                    frame, at = got
                    before = len(answer.tokens)
                    if self._handle(answer, frame, at):
                        return answer
                    if len(answer.tokens) > before:
                        received += answer.tokens[-1][1]
                        if stop_after_tokens is not None and received >= stop_after_tokens:
                            return answer
                    if answer.message_id or frame["type"] != "newMessage":
                        continue
                    data = frame["data"]
                    if data.get("role") == "user" and data.get("client_message_id") == answer.nonce:
                        user_id = data["id"]
                    elif data.get("role") == "assistant" and user_id is not None and data.get("reply_to") == user_id:
                        answer.message_id = frame["message_id"]
        except TimeoutError:
            answer.outcome = "timeout"
            self.tally.errors.append(f"{answer.nonce}: no end of the answer within {self.plan.answer_timeout_s}s")
        return answer

    def _handle(self, answer: Answer, frame: dict[str, Any], at: float) -> bool:
        """Account one frame of the answer being waited for; True when the answer ended."""
        kind = frame["type"]
        if kind == "error":
            data = frame["data"]
            self.tally.errors.append(f"{answer.nonce}: error frame {data.get('code')}: {data.get('message')}")
            if data.get("client_message_id") == answer.nonce:
                answer.outcome = "error"
                return True
            return False
        if kind != "messageUpdate" or not answer.message_id or frame["message_id"] != answer.message_id:
            return False
        data = frame["data"]
        match data.get("event"):
            case "token":
                attempt = data.get("attempt", 1)
                answer.tokens.append((data["token_index"], data["token_count"], at, attempt))
                self.tally.checker.chunk(
                    answer.message_id, attempt, data["index"], data["token_index"], data["token_count"]
                )
            case "restarted":  # another worker took the answer over: a new attempt from token 0
                self.tally.restarts += 1
            case "completed":
                attempt = data["message"].get("attempt", 1)
                self.tally.checker.end(answer.message_id, attempt, self.plan.tokens)
                answer.done_at, answer.outcome = at, "completed"
                return True
            case "failed" | "cancelled" as ending:
                answer.done_at, answer.outcome = at, ending
                self.tally.errors.append(f"{answer.nonce}: answer {ending}: {data.get('error_message', '')}")
                return True
        return False
