"""The benchmark's phases against the real system (services/bench/runner.py): its own NATS and
PostgreSQL, the scripted provider, projections, generation and edge as processes."""

from __future__ import annotations

from services.bench.runner import Load, Options, Run
from services.settings import load


async def test_phases_measure_the_real_pipeline_without_gaps(tmp_path):
    chat = Load("latency", clients=2, rate=50.0, tokens=10, duration_s=2.0)
    options = Options(
        mode="quick",
        loads=(chat,),
        generation_workers=1,
        idle=3,
        resume_tokens=120,
        resume_rate=1000.0,
        replay_sessions=2,
        baseline=False,
    )
    run = Run(options, load({}))
    try:
        await run.start()
        measured = await run.chat(chat, run.parley)
        resumed = await run.resume()
        replayed = await run.replay(measured["sessions"])
        rebuilt = await run.rebuild()
    finally:
        await run.stop(tmp_path / "results")
    assert measured["connected"] == 2 and measured["errors"] == 0, measured["error_samples"]
    assert measured["gaps"] == measured["duplicates"] == measured["shorts"] == 0, measured["anomaly_samples"]
    assert measured["answers_completed"] >= 4 and measured["unmatched_answers"] == 0
    assert measured["latency_ms"]["n"] == measured["tokens"] > 0
    assert measured["projection_lag"]["samples"] > 0
    assert {"edge", "generation-0", "projections", "nats-server", "postgres"} <= measured["cpu"].keys()
    assert measured["idle_after_deadline_s"] is not None
    assert resumed["errors"] == resumed["gaps_or_duplicates"] == 0, resumed
    assert resumed["rounds"][0]["full_replay_tokens"] == 120
    assert replayed["concurrent"]["sessions"] == 2 and replayed["concurrent"]["events"] > 0
    assert rebuilt["events"] > 0 and rebuilt["dead_letters"] == 0, rebuilt
    assert (tmp_path / "results" / "logs").is_dir()


def test_the_system_under_test_gets_the_callers_coalescing_and_priority_settings(tmp_path):
    """The harness drops the caller's PARLEY_* variables; the run passes on the settings a
    comparison varies (``PARLEY_CHUNK_FLUSH_MS=2 just bench``), and records them."""
    chat = Load("latency", clients=1, rate=10.0, tokens=5, duration_s=1.0)
    wanted = {"PARLEY_CHUNK_FLUSH_MS": "2", "PARLEY_PROJECTION_NICE": "0", "PARLEY_CHUNK_BUDGET_MS": "7"}
    run = Run(Options(mode="quick", loads=(chat,)), load(wanted))
    try:
        env = run.env()
    finally:
        run.work.rmdir()
    assert {k: float(env[k]) for k in wanted} == {k: float(v) for k, v in wanted.items()}
