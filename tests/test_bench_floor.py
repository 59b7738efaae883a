"""The nats-server floor measurement (services/bench/floor.py), in a quick mode: every event
published is stored, acked and read by the readers it is for, on a real nats-server."""

from __future__ import annotations

import pytest

from services.bench import floor


async def test_every_event_is_stored_acked_and_read_by_the_readers_it_is_for():
    found = await floor.measure(rate=200.0, seconds=1.0, procs=1)
    assert found.events >= 150
    assert found.acked == found.events
    assert found.delivered["edge"] == found.events
    assert found.delivered["chat"] == found.events
    # deltas are none of the session feeds', the usage projection's or the prompt queue's
    assert not any(found.delivered.get(name) for name in ("feed", "usage", "prompts"))
    assert found.nats_cpu_s > 0 and found.us_per_event > 0


async def test_events_sent_in_bursts_are_all_stored_acked_and_read():
    found = await floor.measure(rate=300.0, seconds=1.0, procs=1, burst=4)
    assert found.burst == 4 and found.events >= 200 and found.events % 4 == 0
    assert found.acked == found.events == found.delivered["edge"] == found.delivered["chat"]


async def test_projection_consumers_with_their_state_in_memory_read_every_event():
    found = await floor.measure(rate=200.0, seconds=1.0, procs=1, mem=True)
    assert found.mem and found.events >= 150
    assert found.acked == found.events == found.delivered["edge"] == found.delivered["chat"]


async def test_events_published_without_a_reply_are_stored_and_read_and_none_is_acked():
    found = await floor.measure(rate=200.0, seconds=1.0, procs=1, acks=False)
    assert not found.acks and found.events >= 150 and found.acked == 0
    assert found.events == found.delivered["edge"] == found.delivered["chat"]


@pytest.mark.parametrize(
    ("option", "value", "said"), [("--consumer-state", "disk", "file or memory"), ("--acks", "some", "each or none")]
)
def test_a_variant_the_floor_does_not_know_is_refused(capsys, option, value, said):
    with pytest.raises(SystemExit):
        floor.main([option, value])
    assert said in capsys.readouterr().err


def test_the_command_prints_one_row_per_measurement(capsys):
    floor.main(["--rate", "100", "--seconds", "0.5", "--procs", "0,1", "--rounds", "1", "--burst", "1,2"])
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| 100 |")]
    assert [tuple(cell.strip() for cell in row.split("|")[2:5]) for row in rows] == [
        ("1", "all", "file"),
        ("1", "1", "file"),
        ("2", "all", "file"),
        ("2", "1", "file"),
    ]
