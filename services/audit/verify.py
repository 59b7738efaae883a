"""``parley audit verify`` and ``parley audit pubkey``: check the log against the signed checkpoints."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from events import subjects
from events.errors import InvalidSubjectToken
from events.streams import AUDIT_CHECKPOINTS, AUDIT_STREAM
from services import bus, runtime
from services.audit import chain, keys, reader
from services.audit.errors import AuditError
from services.audit.verification import Report, Walk
from services.settings import Settings


def public_key(settings: Settings, file: Path | None):
    if file is not None:
        try:
            return keys.load_public(file.read_bytes(), str(file))
        except OSError as exc:
            raise AuditError(f"--pubkey: cannot read {file}: {exc.strerror}") from None
    try:
        return keys.private(settings).public_key()
    except AuditError as exc:
        raise AuditError(f"no public key: pass --pubkey FILE (from `parley audit pubkey`); {exc}") from None


async def checkpoints(js, public) -> list[chain.Checkpoint] | str:
    """Every checkpoint in order, or the line that says which one does not verify."""
    out = []
    async for item in reader.read(js, AUDIT_CHECKPOINTS, stream=AUDIT_STREAM):
        try:
            out.append(chain.open_signed(item.data, public))
        except chain.BadCheckpoint as exc:
            return f"audit: FAILED at checkpoint (audit stream seq {item.seq}): {exc}"
    return out


async def verify(settings: Settings, session: str | None, pubkey: Path | None, out=sys.stdout) -> int:
    public = public_key(settings, pubkey)
    if session is not None:
        try:
            subjects.token(session)
        except InvalidSubjectToken:
            raise AuditError(f"--session: not a session id: {session!r}") from None
    nc = await bus.connect(runtime.resolve(settings, database=False).nats_url, "parley-audit-verify")
    try:
        js = nc.jetstream()
        found = await checkpoints(js, public)
        if isinstance(found, str):
            print(found, file=out)
            return 1
        if not found:
            print("audit: FAILED: no signed checkpoint yet (is `parley audit seal` running?)", file=out)
            return 1
        print(f"checkpoints: {len(found)}, signed by key {chain.key_id(public)}", file=out)
        walk = Walk(found, session)
        stored = reader.read(js, subjects.session(session) if session else subjects.ALL)
        async for item in stored:
            if walk.feed(item) is not None:
                break
        await stored.aclose()
        report: Report = walk.finish()
        if report.ok and report.unsealed:
            print(f"not yet sealed: {report.unsealed} events after seq {report.sealed_through}", file=out)
        print(report.line(), file=out)
        return 0 if report.ok else 1
    finally:
        await nc.close()


def pubkey(settings: Settings) -> str:
    """The signing key's public half as PEM (the key is generated if there is none yet)."""
    return keys.public_pem(keys.private(settings, create=True).public_key())


def main(settings: Settings, session: str | None, pubkey_file: Path | None) -> int:
    return asyncio.run(verify(settings, session, pubkey_file))
