"""``parley audit seal``: folds PARLEY_CHAT in stream order into the hash chain and publishes a
signed checkpoint to PARLEY_AUDIT every N events or T seconds.

It keeps no state of its own: on start it continues from the last checkpoint. Several sealers
may run (one per deployment is enough): each checkpoint is published with
``Nats-Expected-Last-Subject-Sequence``, so only one continuation of the chain is ever stored;
a sealer that loses the race reloads the winner's checkpoint and carries on from there.
"""

from __future__ import annotations

import asyncio
import base64
import signal
import time
from datetime import UTC, datetime

import msgspec
from nats.js import JetStreamContext, api
from nats.js.errors import APIError, NotFoundError

from events import streams, subjects
from events.streams import AUDIT_CHECKPOINTS, AUDIT_STREAM, CHAT_STREAM
from services import bus, logs, runtime
from services.audit import chain, keys
from services.settings import Settings

log = logs.get("audit.seal")

BATCH = 500


async def last_checkpoint(js: JetStreamContext, public) -> tuple[chain.Checkpoint | None, int]:
    """The newest stored checkpoint and its sequence in PARLEY_AUDIT (None, 0 when none)."""
    try:
        msg = await js.get_last_msg(AUDIT_STREAM, AUDIT_CHECKPOINTS, direct=True)
    except NotFoundError:
        return None, 0
    try:
        return chain.open_signed(msg.data, public), msg.seq
    except chain.BadCheckpoint as exc:
        # Another key (rotated) signed it: the chain still continues from it; verify says which key.
        log.warning("last checkpoint not signed by this key; continuing its chain", error=str(exc))
        signed = msgspec.json.decode(msg.data, type=chain.Signed)
        return msgspec.json.decode(base64.b64decode(signed.body), type=chain.Checkpoint), msg.seq


class Run:
    def __init__(self, js: JetStreamContext, key, every_events: int, every_s: float) -> None:
        self.js, self.key = js, key
        self.every_events, self.every_s = every_events, every_s

    async def resume(self) -> None:
        last, self.audit_seq = await last_checkpoint(self.js, self.key.public_key())
        self.state = chain.Sealer.after(last) if last else chain.Sealer(stream=CHAT_STREAM)
        self.first_pending_at: float | None = None
        log.info("sealing from", after_seq=self.state.through_seq, checkpoints=self.state.number)

    async def flush(self) -> bool:
        """Publish a checkpoint over what is pending; False when another sealer got there first."""
        cut = self.state.cut(datetime.now(UTC), self.key)
        if cut is None:
            return True
        body, data = cut
        try:
            ack = await self.js.publish(
                AUDIT_CHECKPOINTS,
                data,
                stream=AUDIT_STREAM,
                headers={"Nats-Expected-Last-Subject-Sequence": str(self.audit_seq)},
            )
        except APIError as exc:
            if exc.err_code == 10071:  # wrong last sequence: another sealer extended the chain
                log.info("another sealer extended the chain; resuming from its checkpoint")
                return False
            raise
        self.audit_seq = ack.seq
        self.state.committed(body)
        self.first_pending_at = None
        log.info("checkpoint", number=body.number, through_seq=body.through_seq, events=body.count)
        return True

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.resume()
            if not await self._follow(stop):
                continue
            return

    async def _follow(self, stop: asyncio.Event) -> bool:
        config = api.ConsumerConfig(
            deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=self.state.through_seq + 1,
            ack_policy=api.AckPolicy.NONE,
            inactive_threshold=60.0,
            mem_storage=True,
            num_replicas=1,
        )
        sub = await self.js.pull_subscribe(subjects.ALL, stream=CHAT_STREAM, config=config)
        try:
            while not stop.is_set():
                wait = 1.0
                if self.first_pending_at is not None:
                    wait = max(0.01, min(wait, self.first_pending_at + self.every_s - time.monotonic()))
                try:
                    batch = await sub.fetch(BATCH, timeout=wait)
                except TimeoutError:
                    batch = []
                for msg in batch:
                    self.state.add(msg.metadata.sequence.stream, msg.subject, bytes(msg.data))
                    if self.first_pending_at is None and self.state.pending:
                        self.first_pending_at = time.monotonic()
                    if len(self.state.pending) >= self.every_events and not await self.flush():
                        return False
                due = self.first_pending_at is not None and time.monotonic() >= self.first_pending_at + self.every_s
                if due and not await self.flush():
                    return False
            return await self.flush()  # seal what is pending before stopping
        finally:
            try:
                await sub.unsubscribe()
                await self.js.delete_consumer(CHAT_STREAM, config.name)
            except Exception:  # it expires on its own
                pass


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    key = keys.private(settings, create=True)
    nc = await bus.connect(runtime.resolve(settings, database=False).nats_url, "parley-audit-seal")
    try:
        js = nc.jetstream()
        await streams.ensure(js, bus.stream_settings(settings))
        log.info("sealer started", key_id=chain.key_id(key.public_key()))
        await Run(js, key, settings.audit_checkpoint_events, settings.audit_checkpoint_s).run(stop)
    finally:
        await nc.close()
        log.info("sealer stopped")


def main(settings: Settings, args=None) -> None:
    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(settings, stop)

    asyncio.run(run())
