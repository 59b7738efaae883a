"""The quick chaos run (`just chaos` runs the full one): five faults under a steady load of six
chat streams. After each: nothing lost, nothing doubled, projections equal a rebuild, no leaked
consumer, no orphan process. One run for the module; tests per fault, so each reports alone."""

from __future__ import annotations

import asyncio

import pytest

from services.chaos import main as chaos


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory) -> dict[str, chaos.Outcome]:
    outcomes = asyncio.run(chaos.chaos(tmp_path_factory.mktemp("chaos"), clients=6, quick=True))
    print(chaos.table(outcomes))
    return {o.fault: o for o in outcomes}


def _is_loss(problem: str) -> bool:
    return problem.startswith(("lost: ", "gap: ", "short: ", "the stream holds", "could not read"))


@pytest.mark.parametrize("fault", list(chaos.FAULTS))
def test_quick_chaos_fault_recovers_doubles_nothing_and_leaves_nothing_behind(quick_run, fault):
    outcome = quick_run[fault]
    report = chaos.table([outcome])
    assert outcome.affected > 0, report  # the fault hit answers in flight
    assert outcome.recovery_s > 0 and "did not recover" not in outcome.problems, report
    assert outcome.duplicated == 0, report
    # projections = rebuild, no leaked consumer, no orphan: every problem that is not a loss
    assert [p for p in outcome.problems if not _is_loss(p)] == [], report


@pytest.mark.parametrize("fault", list(chaos.FAULTS))
def test_quick_chaos_fault_loses_nothing(quick_run, fault):
    outcome = quick_run[fault]
    assert outcome.lost == 0 and not [p for p in outcome.problems if _is_loss(p)], chaos.table([outcome])


def test_the_table_counts_what_went_wrong():
    bad = chaos.Outcome("restart nats-server", affected=3, recovery_s=2.0, lost=1, duplicated=2, problems=["gap: x"])
    report = chaos.table([chaos.Outcome("kill -9 one edge of two", affected=2, recovery_s=1.0), bad])
    assert "| restart nats-server | 3 | 2.0 s | 1 | 2 | gap: x |" in report
    assert report.endswith("chaos: 2 faults, 1 lost, 2 duplicated")
