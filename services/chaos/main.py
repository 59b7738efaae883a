"""``just chaos``: faults under a steady load, and proof that nothing was lost or doubled.

The whole system runs as real processes (embedded NATS and PostgreSQL, 2 generation workers,
2 edges, projections, the scripted LLM); N clients chat without pause. In turn: kill -9 a
generation worker, kill -9 one edge of two (its clients resume on the other), kill -9 the
projection worker, restart nats-server, restart PostgreSQL; then (full run) a double SIGINT to
``parley up``. After each fault the load pauses and the checks of ``checks.py`` run. Prints a
table and ``chaos: F faults, L lost, D duplicated``; exits 1 if anything did not hold.

    python -m services.chaos.main [--quick] [--clients N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from services import bus
from services.bench.harness import Infra, System
from services.chaos import checks, stop
from services.chaos.load import VISIBLE, Load


@dataclass
class Outcome:
    fault: str
    affected: int = 0
    recovery_s: float = 0.0
    lost: int = 0
    duplicated: int = 0
    problems: list[str] = field(default_factory=list)


@dataclass
class Run:
    infra: Infra
    system: System
    load: Load
    env: dict[str, str]
    consumers: int = 0  # consumers on the chat stream at rest, before any fault


def _kill_and_restart(name: str):
    async def fault(run: Run) -> None:
        proc = run.system.process(name)
        proc.kill()
        await asyncio.sleep(1.0)  # the rest of the system notices it gone
        for attempt in range(3):  # a loaded machine can take longer than the harness's 30 s to start one
            try:
                await asyncio.to_thread(proc.start)
                return
            except RuntimeError:
                proc.kill()
                if attempt == 2:
                    raise

    return fault


async def _restart_nats(run: Run) -> None:
    await asyncio.to_thread(run.infra.nats.restart)


async def _restart_postgres(run: Run) -> None:
    def bounce() -> None:
        run.infra.postgres.stop()
        time.sleep(0.5)
        run.infra.postgres.start()

    await asyncio.to_thread(bounce)


FAULTS = {
    "kill -9 generation worker": _kill_and_restart("generation-0"),
    "kill -9 one edge of two": _kill_and_restart("edge-0"),
    "kill -9 projection worker": _kill_and_restart("projections-0"),
    "restart nats-server": _restart_nats,
    "restart PostgreSQL": _restart_postgres,
}


async def one_fault(run: Run, name: str, settle_s: float) -> Outcome:
    load, out = run.load, Outcome(name)
    await asyncio.sleep(settle_s)  # steady load before the fault
    before_anomalies = len(load.anomalies())
    seen = {id(a) for a in load.answers()}
    t_fault = time.time()
    inflight = [a for a in load.answers() if a.outcome == "unfinished"]
    try:
        await FAULTS[name](run)
    except Exception as exc:  # reported in the table; the run goes on with the next fault
        out.problems.append(f"the fault's restart failed: {str(exc).splitlines()[0]}")
    # Recovered: every answer in flight at the fault has ended, and one sent after it completed.
    deadline = time.monotonic() + load.plan.answer_timeout_s + 30
    while time.monotonic() < deadline:
        later = [a for a in load.answers() if a.sent_at > t_fault and a.outcome == "completed"]
        if later and all(a.outcome != "unfinished" for a in inflight):
            ends = [a.done_at or t_fault for a in inflight] + [min(a.done_at for a in later)]
            out.recovery_s = max(ends) - t_fault
            break
        await asyncio.sleep(0.1)
    else:
        out.problems.append("did not recover")
    await load.pause(load.plan.answer_timeout_s + 10)
    window = [a for a in load.answers() if id(a) not in seen] + inflight
    out.affected = len(inflight)
    out.lost = sum(a.outcome not in VISIBLE for a in window)
    anomalies = load.anomalies()[before_anomalies:]
    out.lost += sum(a.startswith(("gap", "short")) for a in anomalies)
    out.duplicated = sum(a.startswith(("duplicate", "overrun")) for a in anomalies)
    out.problems += anomalies + [f"lost: {a.nonce} ({a.outcome})" for a in window if a.outcome not in VISIBLE]
    out.problems += await explain_gaps(run, anomalies)
    out.problems += await at_rest(run)
    load.resume()
    return out


async def explain_gaps(run: Run, anomalies: list[str]) -> list[str]:
    """For each gap a client saw: were the missing chunks stored at all?"""
    sessions = {a.message_id: c.session_id for c in run.load.clients for a in c.answers if a.message_id}
    notes = []
    nc = await bus.connect(run.infra.nats_url, "chaos-explain")
    try:
        for text in anomalies:
            if not text.startswith("gap: "):
                continue
            message_id, attempt = text.split()[1], int(text.split()[3].rstrip(":"))
            try:
                stored = await checks.stored_chunks(nc.jetstream(), sessions.get(message_id, "?"), message_id)
            except Exception as exc:  # a diagnosis that fails must not hide the finding itself
                notes.append(f"could not read {message_id}'s chunks back: {exc}")
                continue
            notes.append(f"the stream holds chunks {sorted(stored.get(attempt, []))} of {message_id} attempt {attempt}")
    finally:
        await nc.close()
    return notes


async def at_rest(run: Run) -> list[str]:
    """The checks on a paused system: projections = rebuild, no leaked consumer, no orphan."""
    problems = []
    nc = await bus.connect(run.infra.nats_url, "chaos-check")
    try:
        js = nc.jetstream()
        await checks.caught_up(js, run.system.database_url)
        # The rebuild uses the projection's own durable consumer: the live worker steps aside meanwhile.
        worker = run.system.process("projections-0")
        await asyncio.to_thread(worker.stop)
        try:
            problems += await checks.differs_from_rebuild(
                run.infra.nats_url, run.infra.database_url, run.system.database_url, run.system.env()
            )
        finally:
            await asyncio.to_thread(worker.start)
        count, _ = await checks.consumers_settle(js, run.consumers, 30)
        if count > run.consumers:
            problems.append(f"{count - run.consumers} JetStream consumers leaked: {await checks.consumer_names(js)}")
    finally:
        await nc.close()
    if orphaned := checks.orphans(run.env[checks.MARKER]):
        problems.append(f"orphan processes: {orphaned}")
    return problems


async def chaos(workdir: Path, clients: int, quick: bool) -> list[Outcome]:
    os.environ[checks.MARKER] = run_id = uuid.uuid4().hex[:12]
    infra = await Infra(workdir / "infra").start()
    env_extra = {"PARLEY_ACK_WAIT_S": "3", checks.MARKER: run_id}
    system = System(
        infra.nats_url,
        infra.database_url,
        workdir / "system",
        env_extra=env_extra,
        generation_workers=2,
        edges=2,
        llm_args=["--tokens-per-s", "0"],
    )
    outcomes: list[Outcome] = []
    try:
        await asyncio.to_thread(system.start)
        tokens, rate = (30, 40.0) if quick else (60, 30.0)
        load = Load(system.edge_urls, clients, tokens, rate, answer_timeout_s=45)
        await load.start()
        run = Run(infra, system, load, {checks.MARKER: run_id})
        await asyncio.sleep(2)
        await load.pause()
        nc = await bus.connect(infra.nats_url, "chaos-baseline")
        run.consumers = len(await checks.consumer_names(nc.jetstream()))
        await nc.close()
        load.resume()
        for name in FAULTS:
            outcomes.append(await one_fault(run, name, 1.5 if quick else 10.0))
        await load.stop()
        if load.failures:
            outcomes[-1].problems += load.failures
    finally:
        await asyncio.to_thread(system.stop)
        infra.stop()
    if not quick:
        outcomes.append(await asyncio.to_thread(stop.double_sigint, workdir / "up", run_id))
    return outcomes


def table(outcomes: list[Outcome]) -> str:
    rows = [
        "| fault | answers affected | recovery time | lost | duplicated | problems |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for o in outcomes:
        shown = "; ".join(o.problems[:3]) + (f" (+{len(o.problems) - 3})" if len(o.problems) > 3 else "")
        rows.append(f"| {o.fault} | {o.affected} | {o.recovery_s:.1f} s | {o.lost} | {o.duplicated} | {shown or '-'} |")
    lost, dup = sum(o.lost for o in outcomes), sum(o.duplicated for o in outcomes)
    rows.append("")
    rows.append(f"chaos: {len(outcomes)} faults, {lost} lost, {dup} duplicated")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="chaos", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short settle times, no `parley up` fault (~90 s)")
    parser.add_argument("--clients", type=int, default=None, help="concurrent chat streams (default 6 quick, 20)")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)
    import tempfile

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="parley-chaos-"))
    clients = args.clients or (6 if args.quick else 20)
    outcomes = asyncio.run(chaos(workdir, clients, args.quick))
    print(table(outcomes))
    sys.exit(0 if all(not o.problems for o in outcomes) else 1)


if __name__ == "__main__":
    main()
