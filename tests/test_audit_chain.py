"""The hash chain and its checkpoints (pure): each kind of tampering names its sequence."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit import chain
from services.audit.conversation import StoredEvent
from services.audit.verification import check

AT = datetime(2026, 1, 1, tzinfo=UTC)
KEY = Ed25519PrivateKey.generate()


def log(n: int, first: int = 1) -> list[StoredEvent]:
    return [
        StoredEvent(seq=s, subject=f"parley.chat.s{s % 3}.message.submitted", data=b'{"n":%d}' % s)
        for s in range(first, first + n)
    ]


def sealed(events: list[StoredEvent], every: int = 4) -> list[chain.Checkpoint]:
    sealer, out = chain.Sealer(stream="PARLEY_CHAT"), []
    for e in events:
        sealer.add(e.seq, e.subject, e.data)
        if len(sealer.pending) == every:
            body, data = sealer.cut(AT, KEY)
            out.append(chain.open_signed(data, KEY.public_key()))
            sealer.committed(body)
    if (cut := sealer.cut(AT, KEY)) is not None:
        out.append(chain.open_signed(cut[1], KEY.public_key()))
    return out


def test_an_untouched_log_verifies():
    events = log(10)
    cps = sealed(events)
    assert [(c.number, c.first_seq, c.through_seq, c.count) for c in cps] == [
        (1, 1, 4, 4),
        (2, 5, 8, 8),
        (3, 9, 10, 10),
    ]
    report = check(cps, events)
    assert report.ok and report.line() == "audit: OK 10 events, sealed through seq 10"
    # Events after the last checkpoint are counted, not judged.
    assert check(cps, [*events, *log(2, first=11)]).unsealed == 2


@pytest.mark.parametrize(
    ("tamper", "seq", "kind"),
    [
        (lambda ev: ev[:5] + ev[6:], 6, "deleted"),
        (lambda ev: ev[:7], 8, "deleted"),  # the tail truncated
        (lambda ev: [*ev[:2], dataclasses.replace(ev[2], data=b'{"n":99}'), *ev[3:]], 3, "altered"),
        (lambda ev: [*ev[:2], dataclasses.replace(ev[2], subject="parley.chat.x.y"), *ev[3:]], 3, "altered"),
        # Two events swapped in place (a stream rebuilt in another order).
        (
            lambda ev: [
                *ev[:3],
                StoredEvent(4, ev[4].subject, ev[4].data),
                StoredEvent(5, ev[3].subject, ev[3].data),
                *ev[5:],
            ],
            4,
            "reordered",
        ),
    ],
)
def test_each_tampering_names_the_first_sequence(tamper, seq, kind):
    events = log(10)
    report = check(sealed(events), tamper(events))
    assert not report.ok and (report.finding.seq, report.finding.kind) == (seq, kind), report.line()
    assert report.line().startswith(f"audit: FAILED at stream seq {seq}: {kind}")


def test_an_inserted_sequence_inside_the_sealed_range():
    events = [e for e in log(10) if e.seq != 4]  # 4 was never stored when sealing
    cps = sealed(events)
    report = check(cps, log(10))
    assert (report.finding.seq, report.finding.kind) == (4, "inserted")


def test_a_removed_or_forged_checkpoint_is_found():
    events = log(12)
    cps = sealed(events)
    report = check([cps[0], cps[2]], events)
    assert report.finding.kind == "checkpoint" and report.finding.seq == 9
    other = Ed25519PrivateKey.generate()
    forged = chain.sign(cps[0], other)
    with pytest.raises(chain.BadCheckpoint, match="signature"):
        chain.open_signed(forged, KEY.public_key())


def test_one_session_is_checked_alone():
    events = log(12)
    cps = sealed(events)
    mine = [e for e in events if ".s1." in e.subject]
    assert check(cps, mine, session_id="s1").ok
    assert check(cps, mine, session_id="s1").events == len(mine)
    report = check(cps, mine[:1] + mine[2:], session_id="s1")
    assert (report.finding.seq, report.finding.kind) == (mine[1].seq, "deleted")


def test_the_signed_body_is_what_verifies():
    body, data = chain.Sealer(stream="S").cut(AT, KEY) or (None, None)
    assert body is None  # nothing pending, nothing to sign
    sealer = chain.Sealer(stream="S")
    sealer.add(1, "parley.chat.a.session.created", b"{}")
    body, data = sealer.cut(AT, KEY)
    signed = msgspec.json.decode(data, type=chain.Signed)
    tampered = msgspec.json.encode(msgspec.structs.replace(signed, body=signed.body[:-4] + "AAA="))
    with pytest.raises(chain.BadCheckpoint):
        chain.open_signed(tampered, KEY.public_key())
    assert chain.open_signed(data, KEY.public_key()) == body


def test_short_lived_deltas_are_outside_the_chain():
    events = log(10)
    deltas = [
        dataclasses.replace(e, subject=e.subject.replace("message.submitted", "generation.delta")) for e in events[3:6]
    ]
    stored = [*events[:3], *deltas, *events[6:]]
    cps = sealed(stored)
    assert cps[-1].count == 7 and cps[0].seqs[:2] == [(1, 3), (7, 7)]
    assert check(cps, stored).line() == "audit: OK 7 events, sealed through seq 10"
    swept = [e for e in stored if ".generation.delta" not in e.subject]  # the sweeper purged them
    assert check(cps, swept).ok
