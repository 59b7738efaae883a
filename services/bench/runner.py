"""One benchmark run: start NATS, PostgreSQL, the whole system and the baseline as real
processes, run the phases, collect everything into one results dict (see ``report.py``).

Phases, in order: idle connections (edge memory) -> each load scenario on Parley then on the
baseline (latency, TTFT, throughput, projection lag, CPU per process) -> profile (py-spy, full
mode) -> resume of a long answer -> full-session replay -> ``parley projections rebuild``.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from services import bus, logs
from services.bench import arrivals, curve, lag_sampler, latency, machine, pprof, profile, spans, stats, storage, usage
from services.bench.client import Client, Tally
from services.bench.fleet import Fleet
from services.bench.harness import Infra, Process, System
from services.bench.plan import BUCKET_S, Answer, Plan, Result
from services.embedded import free_port
from services.scripted_llm import script
from services.settings import Settings

KIB = 1024


@dataclass(frozen=True)
class Load:
    """One load scenario: ``clients`` sockets, each asking for ``tokens``-token answers at ``rate``."""

    name: str
    clients: int  # closed loop: streams; open loop: sockets held for the arrivals
    rate: float
    tokens: int
    duration_s: float
    arrival_rate: float = 0.0  # open loop: prompts per second (Poisson); 0: closed loop
    group: str = ""  # "scaling": a point of the scaling curve

    @property
    def answer_s(self) -> float:
        return self.tokens / self.rate if self.rate else 0.0

    @property
    def warmup_s(self) -> float:
        # Clients start spread over one answer's length; measure once all are streaming.
        return min(self.answer_s + 1.0, self.duration_s / 3)


@dataclass(frozen=True)
class Options:
    mode: str
    loads: tuple[Load, ...]
    loadgens: int = 1
    idle: int = 200
    generation_workers: int = 1  # as `parley up`: on the same machine it beat two up to 100 streams
    resume_tokens: int = 2000
    resume_rate: float = 1000.0
    resume_repeats: int = 1
    replay_sessions: int = 50
    profile_s: float = 0.0
    baseline: bool = True
    out: Path = Path("bench-results")
    keep_work: bool = False
    extra_env: dict[str, str] = field(default_factory=dict)
    trace_sample: float = 0.2  # share of prompts traced (the waterfall); 0: tracing off
    profile_scenario: str = ""  # the load profiled (default: the heaviest)
    sync_compare: str = ""  # rerun profile_scenario with nats-server's sync_interval set to this ("always")


@dataclass
class Target:
    name: str  # parley | baseline
    url: str
    pid: int  # the process holding the sockets (edge / baseline)


class RssPeak:
    """The highest RSS of one process while running (sampled every 0.2 s)."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak = pid, usage.rss_bytes(pid)
        self._task: asyncio.Task | None = None

    async def _loop(self) -> None:
        while True:
            self.peak = max(self.peak, usage.rss_bytes(self.pid))
            await asyncio.sleep(0.2)

    def __enter__(self) -> RssPeak:
        self._task = asyncio.create_task(self._loop())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()


log = logs.get("bench")
_BEGAN = time.perf_counter()


def _say(message: str, **context: Any) -> None:
    log.info(message, elapsed_s=round(time.perf_counter() - _BEGAN, 1), **context)


class Run:
    def __init__(self, options: Options, settings: Settings) -> None:
        self.options, self.settings = options, settings
        self.work = Path(tempfile.mkdtemp(prefix="parley-bench-"))
        self.infra: Infra | None = None
        self.system: System | None = None
        self.baseline: Process | None = None
        self.lag: lag_sampler.LagSampler | None = None
        self.concurrency = 0
        self.latencies: dict[tuple[str, str], list[float]] = {}  # (scenario, target) -> seconds, for the plot
        self.receiver: spans.Receiver | None = None
        self.results: dict[str, Any] = {}  # filled as the run goes: a run cut short still reports
        self.nc = None  # the bench's own NATS connection (stream sizes)

    # -- set-up -----------------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        """The system's settings: production defaults (or the caller's environment), except
        enough generation concurrency that no prompt waits for a free slot."""
        most = max((load.clients for load in self.options.loads), default=1)
        self.concurrency = math.ceil(most / self.options.generation_workers) + 16
        tracing = {}
        if self.receiver is not None:
            tracing = {
                "PARLEY_OTEL_ENDPOINT": self.receiver.url,
                "PARLEY_TRACE_SAMPLE": str(self.options.trace_sample),
                "OTEL_BSP_SCHEDULE_DELAY": "500",  # spans reach the bench within a scenario
            }
        return {
            **tracing,
            # Auth is off: every bench client is the one local user, so the per-user fair-use
            # limits would refuse the load itself (429). Off here; they are the edge's concern.
            "PARLEY_SENDS_PER_MINUTE": "0",
            "PARLEY_ANSWERS_IN_FLIGHT": "0",
            "PARLEY_SOCKETS_PER_USER": "0",
            "PARLEY_SESSIONS_PER_USER": "0",
            "PARLEY_GENERATION_CONCURRENCY": str(self.concurrency),
            "PARLEY_CHUNK_FLUSH_MS": str(self.settings.chunk_flush_ms),
            "PARLEY_CHUNK_MAX_TOKENS": str(self.settings.chunk_max_tokens),
            "PARLEY_CHUNK_BUDGET_MS": str(self.settings.chunk_budget_ms),
            "PARLEY_PROJECTION_NICE": str(self.settings.projection_nice),
            "PARLEY_PROJECTION_FLUSH_MS": str(self.settings.projection_flush_ms),
            "PARLEY_PROJECTION_SETTLE_MS": str(self.settings.projection_settle_ms),
            "PARLEY_PROJECTION_BATCH": str(self.settings.projection_batch),
            "PARLEY_WS_QUEUE_SIZE": str(self.settings.ws_queue_size),
            "PARLEY_LOG_LEVEL": self.settings.log_level,
            # The scripted provider sends exactly the tokens asked for; the 2,000-token resume
            # answer must not be cut at the default cap.
            "PARLEY_MAX_TOKENS": "0",
            **self.options.extra_env,
        }

    async def start(self) -> None:
        _say(f"starting NATS and PostgreSQL in {self.work}")
        if self.options.trace_sample > 0:
            self.receiver = await spans.Receiver().__aenter__()
        self.infra = await Infra(
            self.work / "infra", nats_sync=self.settings.nats_sync, nats_procs=self.settings.nats_procs
        ).start()
        self.nc = await bus.connect(self.infra.nats_url, "parley-bench-storage")
        self.system = System(
            self.infra.nats_url,
            self.infra.database_url,
            self.work / "system",
            env_extra=self.env(),
            generation_workers=self.options.generation_workers,
            edges=1,
        )
        _say("starting scripted LLM, projections, generation, edge")
        await asyncio.to_thread(self.system.start)
        if self.options.baseline:
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            args = [sys.executable, "-m", "services.bench.baseline", "--port", str(port), "--llm-url"]
            self.baseline = Process(
                "baseline",
                [*args, self.system.llm_url],
                self.system.env(),
                self.work / "baseline.log",
                f"{url}/healthz",
            )
            await asyncio.to_thread(self.baseline.start)
        self.lag = await lag_sampler.LagSampler(self.infra.nats_url, self.infra.database_url).__aenter__()

    async def stop(self, results_dir: Path | None) -> None:
        if self.lag is not None:
            with contextlib.suppress(Exception):
                await self.lag.__aexit__(None, None, None)
        if self.nc is not None:
            with contextlib.suppress(Exception):
                await self.nc.close()
        for part in (self.baseline, self.system):
            if part is not None:
                await asyncio.to_thread(part.stop)
        if self.receiver is not None:
            await asyncio.sleep(0.5)  # the processes' last spans, flushed as they exit
            await self.receiver.__aexit__(None, None, None)
        if self.infra is not None:
            await asyncio.to_thread(self.infra.stop)
        if results_dir is not None:  # the logs of every process, for a look after the fact
            logs = results_dir / "logs"
            logs.mkdir(parents=True, exist_ok=True)
            for log in self.work.rglob("*.log"):
                if log.stat().st_size < 50 * 2**20:
                    shutil.copy(log, logs / f"{log.parent.name}-{log.name}")
            # py-spy's collapsed stacks: for flamegraph.pl / speedscope, and for callers of a hot frame
            if (self.work / "profile").is_dir():
                shutil.copytree(self.work / "profile", results_dir / "profile", dirs_exist_ok=True)
        if not self.options.keep_work:
            shutil.rmtree(self.work, ignore_errors=True)

    @property
    def parley(self) -> Target:
        assert self.system is not None
        edge = self.system.process("edge-0")
        assert edge.pid is not None
        return Target("parley", self.system.edge_urls[0], edge.pid)

    @property
    def direct(self) -> Target:
        assert self.baseline is not None and self.baseline.pid is not None
        return Target("baseline", self.baseline.ready_url.removesuffix("/healthz"), self.baseline.pid)

    def watched(self, target: Target) -> list[usage.Watched]:
        """The processes whose CPU time a phase accounts for."""
        assert self.system is not None and self.system.llm is not None and self.infra is not None
        llm = usage.Watched("scripted-llm", self.system.llm.pid)
        if target.name == "baseline":
            return [usage.Watched("baseline", target.pid), llm]
        assert self.infra.nats and self.infra.nats.proc and self.infra.postgres and self.infra.postgres.proc
        return [
            usage.Watched("edge", target.pid),
            *(usage.Watched(p.name, p.pid) for p in self.system.processes if p.name.startswith("generation")),
            usage.Watched("projections", self.system.process("projections-0").pid),
            llm,
            usage.Watched("nats-server", self.infra.nats.proc.pid),
            usage.Watched("postgres", self.infra.postgres.proc.pid, children=True),
        ]

    async def _llm(self, method: str, path: str) -> Any:
        assert self.system is not None
        async with httpx.AsyncClient(timeout=120) as http:
            response = await http.request(method, f"{self.system.llm_url}{path}")
            response.raise_for_status()
            return response.json()

    # -- phases -----------------------------------------------------------------------------------

    async def idle(self, target: Target) -> dict[str, Any]:
        """Edge memory per idle connection: RSS before and after opening ``idle`` sockets."""
        plan = Plan(kind="idle", base_url=target.url, run=f"idle-{target.name}", clients=self.options.idle)
        plan = _with(plan, connect_concurrency=100)
        async with Fleet(plan, self.options.loadgens, self.work / "loadgen") as fleet:
            await asyncio.sleep(1.0)
            before = usage.rss_bytes(target.pid)
            started = time.perf_counter()
            await fleet.connect()
            connect_s = time.perf_counter() - started
            await asyncio.sleep(2.0)
            after = usage.rss_bytes(target.pid)
            result = await fleet.finish(idle_close=True)
        await asyncio.sleep(1.0)
        closed = usage.rss_bytes(target.pid)
        n = max(1, result.connected)
        return {
            "connections": result.connected,
            "rss_before_mib": round(before / 2**20, 1),
            "rss_open_mib": round(after / 2**20, 1),
            "rss_after_close_mib": round(closed / 2**20, 1),
            "per_connection_kib": round((after - before) / n / KIB, 1),
            "connect_s": round(connect_s, 2),
            "errors": len(result.errors),
            "error_samples": result.errors[:5],
        }

    async def settle(self, limit_s: float = 180.0) -> float | None:
        """Wait until Parley is idle: nothing new stored for 1.5 s and the projection caught up.
        When it went quiet (``time.time()``), or None if still busy after ``limit_s``."""
        assert self.lag is not None
        began = time.time()
        last, quiet_since = -1, time.time()
        while time.time() - began < limit_s:
            sample = await self.lag.sample()
            if sample.stream_last != last:
                last, quiet_since = sample.stream_last, sample.at
            elif sample.checkpoint >= sample.stream_last and sample.at - quiet_since >= 1.5:
                return quiet_since
            await asyncio.sleep(0.1)
        return None

    async def chat(self, load: Load, target: Target, profile_s: float = 0.0) -> dict[str, Any]:
        """One load scenario on one target; every number the tables need."""
        assert self.lag is not None
        settled = await self.settle(45.0)  # a previous phase's backlog must not run alongside this one
        if settled is None:
            log.warning("Parley is still busy from the previous phase after 45 s more; measuring anyway")
        await self._llm("DELETE", "/_record")
        plan = Plan(
            kind="chat",
            base_url=target.url,
            run=f"{load.name}-{target.name}{'-profile' if profile_s else ''}",
            clients=load.clients,
            tokens=load.tokens,
            rate=load.rate,
            duration_s=load.duration_s,
            stagger_s=0.0 if load.arrival_rate else load.answer_s,
            # Answers still streaming this long after the deadline are stopped (the client
            # presses stop) and counted as unfinished. Nothing after the deadline is measured:
            # the wait is capped so long answers do not stretch the run.
            drain_s=min(load.answer_s + 3, 5.0),
            answer_timeout_s=load.answer_s + 30,
            arrivals=arrivals.poisson(load.arrival_rate, load.duration_s, seed=len(self.latencies)),
        )
        how = (
            f"{load.arrival_rate:g} prompts/s (Poisson) on {load.clients} sockets"
            if load.arrival_rate
            else (f"{load.clients} clients")
        )
        _say(f"{load.name} on {target.name}: {how} x {load.rate:g} tokens/s for {load.duration_s:g}s")
        async with Fleet(plan, self.options.loadgens, self.work / "loadgen") as fleet:
            rss_before = usage.rss_bytes(target.pid)
            await fleet.connect()
            rss_connected = usage.rss_bytes(target.pid)
            stored_before = await storage.snapshot(self.nc.jetstream()) if target.name == "parley" else None
            watched = [
                *self.watched(target),
                *(usage.Watched(f"loadgen-{i}", pid) for i, pid in enumerate(fleet.pids)),
            ]
            with RssPeak(target.pid) as peak:
                t0 = await fleet.go()
                start, end = t0 + load.warmup_s, t0 + load.duration_s
                if target.name == "parley":
                    self.lag.start()
                cpu = asyncio.create_task(self._cpu_between(watched, start, end))
                spied = nats = None
                if profile_s:
                    seconds = min(profile_s, end - start)
                    spied = asyncio.create_task(self._profile(watched, start, seconds, target.name))
                    if target.name == "parley":
                        nats = asyncio.create_task(self._profile_nats(start, seconds))
                result = await fleet.finish()
                samples = await self.lag.stop() if target.name == "parley" else []
                cpu_used = await cpu
                profiled = await spied if spied else None
                nats_profile = await nats if nats else None
        if profiled is not None:
            out = {"profile": profiled, "window_s": round(end - start, 2), "cpu": cpu_used}
            if nats_profile is not None:
                out["nats_pprof"] = nats_profile
            return out
        records = await self._llm("GET", "/_record")
        joined = latency.join(result.answers, latency.by_nonce(records), start, end)
        self.latencies[(load.name, target.name)] = joined.latencies
        window = end - start
        frames = latency.frames_in(result.frame_buckets, result.t0, start, end, BUCKET_S)
        out = {
            "clients": load.clients,
            "connected": result.connected,
            "window_s": round(window, 2),
            "window_at": [start, end],
            # False: the previous phase's backlog was still draining when this one began.
            "started_settled": settled is not None,
            "latency_ms": stats.summary(joined.latencies),
            "ttft_ms": stats.summary(joined.ttft),
            "provider_ttft_ms": stats.summary(joined.provider_ttft),
            "ttft_overhead_ms": stats.summary(joined.ttft_overhead),
            "request_path_ms": stats.summary(joined.request_path),
            "socket_wait_ms": stats.summary(joined.socket_wait),
            "tokens": joined.tokens,
            "tokens_per_s": stats.rate(joined.tokens, window),
            "frames_per_s": stats.rate(frames, window),
            "answers_per_s": stats.rate(joined.answers, window),
            "token_frames_per_s": stats.rate(joined.token_frames, window),
            "tokens_per_token_frame": round(joined.tokens / joined.token_frames, 2) if joined.token_frames else None,
            "answers": len(result.answers),
            "answers_completed": sum(a.outcome == "completed" for a in result.answers),
            # Still streaming when the clients stopped waiting (deadline + drain): overload, not loss.
            "unfinished": sum(a.outcome == "unfinished" for a in result.answers),
            "errors": len(result.errors),
            "error_samples": result.errors[:10],
            **_anomalies(result),
            "reconnects": result.reconnects,
            "restarts": result.restarts,
            "unmatched_answers": joined.unmatched,
            "unknown_tokens": joined.unknown_tokens,
            "rss": {
                "before_mib": round(rss_before / 2**20, 1),
                "connected_mib": round(rss_connected / 2**20, 1),
                "peak_mib": round(peak.peak / 2**20, 1),
                "per_connection_kib": round((peak.peak - rss_before) / max(1, result.connected) / KIB, 1),
            },
            "cpu": cpu_used,
            "loadgen_cpu_s": round(result.cpu_user_s + result.cpu_system_s, 2),
        }
        if target.name == "parley":
            # How long the system kept working after the clients' deadline: an answer's own length
            # is the natural tail; more is a backlog.
            # Bounded: a saturated point's backlog must not eat the run (the next one waits more).
            quiet = await self.settle(60.0)
            out["idle_after_deadline_s"] = round(quiet - end, 2) if quiet is not None else None
            inside = [s for s in samples if start <= s.at < end]
            out["projection_lag"] = lag_sampler.summarize(inside)
            out["projection_lag"]["probe_errors"] = self.lag.errors[:3]
            if stored_before is not None:
                out["storage"] = await self._storage(stored_before)
        out["sessions"] = result.sessions
        return out

    async def _cpu_between(self, watched: list[usage.Watched], start: float, end: float) -> dict[str, Any]:
        await asyncio.sleep(max(0.0, start - time.time()))
        before = usage.snapshot(watched)
        began = time.time()
        await asyncio.sleep(max(0.0, end - time.time()))
        shares = usage.cpu_share(before, usage.snapshot(watched), time.time() - began)
        shares["total"] = {
            "cpu_s": round(sum(v["cpu_s"] for v in shares.values()), 2),
            "cores": round(sum(v["cores"] for v in shares.values()), 3),
        }
        return shares

    async def _storage(self, before: dict[str, storage.Stream]) -> dict[str, Any]:
        """What the scenario added to JetStream (after it settled), per token and per answer
        the provider sent, beside the UTF-8 size of those tokens' text."""
        js = self.nc.jetstream()
        after = await storage.snapshot(js)
        types = {
            name: await storage.tally(
                js, name, before[name].last_seq if name in before else 0, now.last_seq, now.subject
            )
            for name, now in after.items()
            if now.permanent
        }
        grown = storage.split(storage.grown(before, after), types)
        tokens = answers = text = 0
        for record in await self._llm("GET", "/_record"):
            sent = record.get("tokens_sent") or 0
            if not sent:
                continue
            answers += 1
            tokens += sent
            messages = record.get("messages") or []
            planned, _ = script.plan(script.for_request(script.Script(), messages), messages)
            text += storage.text_bytes(planned[:sent])
        return storage.per_unit(grown, tokens, answers, text)

    async def _profile_nats(self, start: float, seconds: float) -> dict[str, Any]:
        assert self.infra is not None and self.infra.nats is not None
        await asyncio.sleep(max(0.0, start - time.time()))
        _say(f"profiling nats-server for {seconds:.0f}s through its profiling port")
        return await pprof.record(self.infra.nats.prof_port, seconds, self.work / "profile" / "nats-server.pprof")

    async def _profile(self, watched: list[usage.Watched], start: float, seconds: float, name: str) -> dict[str, Any]:
        await asyncio.sleep(max(0.0, start - time.time()))
        pids = {w.name: w.pid for w in watched if w.name not in ("nats-server", "postgres")}
        _say(f"profiling {', '.join(pids)} for {seconds:.0f}s with py-spy")
        return await profile.record(pids, seconds, self.work / "profile" / name)

    async def resume(self) -> dict[str, Any]:
        """Reload in the middle of a long answer, and replay of the whole answer afterwards.

        The rounds stream at the same time (a slow answer takes a while); their measurements
        (reconnects, replays) take turns, so they do not slow each other down."""
        options, target = self.options, self.parley
        plan = Plan(
            kind="chat",
            base_url=target.url,
            run="resume",
            clients=1,
            tokens=options.resume_tokens,
            rate=options.resume_rate,
            answer_timeout_s=options.resume_tokens / options.resume_rate + 60,
        )
        turn = asyncio.Lock()
        async with httpx.AsyncClient(base_url=target.url, timeout=30) as http:
            done = await asyncio.gather(
                *(self._resume_round(i, plan, http, turn) for i in range(options.resume_repeats))
            )
        rounds = [r for r, _, _ in done]
        anomalies = [a for _, found, _ in done for a in found]
        errors = [e for _, _, found in done for e in found]
        full = [r["full_replay_ms"] for r in rounds]
        frames = sum(r["full_replay_frames"] for r in rounds)
        return {
            "tokens": options.resume_tokens,
            "rate": options.resume_rate,
            "repeats": len(rounds),
            "rounds": rounds,
            "mid_answer_live_ms": stats.summary([r["mid_answer_live_ms"] for r in rounds], scale=1.0),
            "full_replay_ms": stats.summary(full, scale=1.0),
            "full_replay_events_per_s": stats.rate(frames, sum(full) / 1000),
            "gaps_or_duplicates": len(anomalies),
            "anomaly_samples": anomalies[:10],
            "errors": len(errors),
            "error_samples": errors[:10],
        }

    async def _resume_round(
        self, i: int, plan: Plan, http: httpx.AsyncClient, turn: asyncio.Lock
    ) -> tuple[dict[str, Any], list[str], list[str]]:
        response = await http.post("/api/v1/chat/sessions", json={"title": f"bench resume {i}"})
        response.raise_for_status()
        session_id = response.json()["id"]
        tally = Tally()
        first = Client(plan, i, session_id, tally)
        await first.open(0)
        before_prompt = first.last_seq
        answer = await first.ask(f"resume.{i}", stop_after_tokens=plan.tokens // 2)
        async with turn:
            cut = first.last_seq
            await first.close()
            # Reload mid-answer: reconnect after the last sequence seen, then follow to the end.
            second = Client(plan, i, session_id, tally)
            began = time.perf_counter()
            await second.open(cut, keep_replay=True)
            live_ms = (time.perf_counter() - began) * 1000
        replayed = second.stored_frames
        await second.follow(answer)
        await second.close()
        async with turn:
            # The whole answer again, from before its prompt: "open the chat later".
            fresh = Tally()
            third = Client(plan, i, session_id, fresh)
            again = Answer(nonce=answer.nonce, sent_at=time.time(), message_id=answer.message_id)
            began = time.perf_counter()
            await third.connect(before_prompt)
            await third.follow(again)
            full_ms = (time.perf_counter() - began) * 1000
            await third.close()
        errors = tally.errors + fresh.errors
        if answer.outcome != "completed" or again.outcome != "completed":
            errors.append(f"resume {i}: answer {answer.outcome}, replay {again.outcome}")
        found = {
            "mid_answer_live_ms": round(live_ms, 2),
            "mid_answer_replayed_frames": replayed,
            "full_replay_ms": round(full_ms, 2),
            "full_replay_frames": third.stored_frames,
            "full_replay_tokens": sum(n for _, n, _, _ in again.tokens),
        }
        return found, tally.checker.anomalies + fresh.checker.anomalies, errors

    async def replay(self, sessions: list[str]) -> dict[str, Any]:
        """Full-session replays over the socket (``after_seq=0`` until ``live``): one session
        alone, then ``replay_sessions`` at once."""
        out: dict[str, Any] = {}
        chosen = sessions[: self.options.replay_sessions]
        for name, group in (("single", chosen[:1]), ("concurrent", chosen)):
            if not group:
                continue
            plan = Plan(kind="replay", base_url=self.parley.url, run=f"replay-{name}", clients=len(group))
            plan = _with(plan, sessions=group, answer_timeout_s=120)
            async with Fleet(plan, self.options.loadgens if name != "single" else 1, self.work / "loadgen") as fleet:
                await fleet.connect()
                await fleet.go(0.2)
                result = await fleet.finish()
            replays = result.replays
            if not replays:
                out[name] = {"error": "; ".join(result.errors[:3]) or "no replay finished"}
                continue
            span = max(r.live_at for r in replays) - min(r.started_at for r in replays)
            events = sum(r.frames for r in replays)
            out[name] = {
                "sessions": len(replays),
                "events": events,
                "seconds": round(span, 3),
                "events_per_s": stats.rate(events, span),
                "per_session_ms": stats.summary([r.live_at - r.started_at for r in replays]),
                "errors": len(result.errors),
                "error_samples": result.errors[:5],
            }
        return out

    async def rebuild(self) -> dict[str, Any]:
        """``parley projections rebuild`` with the projection worker stopped (it would do the work)."""
        assert self.system is not None
        await asyncio.to_thread(self.system.process("projections-0").stop)
        began = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "services.cli",
            "projections",
            "rebuild",
            env=self.system.env(),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        wall = time.perf_counter() - began
        text = out.decode().strip()
        found = re.search(r"(\d+) events in ([\d.]+) s \(([\d,]+) events/s\), (\d+) dead letters", text)
        if proc.returncode != 0 or not found:
            return {"error": f"exit {proc.returncode}: {text} {err.decode(errors='replace')[-500:]}"}
        return {
            "events": int(found[1]),
            "seconds": float(found[2]),
            "events_per_s": float(found[3].replace(",", "")),
            "dead_letters": int(found[4]),
            "command_wall_s": round(wall, 2),
            "output": text,
        }

    # -- the whole run ----------------------------------------------------------------------------

    async def __call__(self, results_dir: Path) -> dict[str, Any]:
        options = self.options
        # `kill -USR1 <pid>` prints where every task of a long run is waiting; SIGTERM and SIGINT
        # (even when a background shell ignores it) end the run cleanly, writing what it measured.
        loop, main = asyncio.get_running_loop(), asyncio.current_task()
        loop.add_signal_handler(signal.SIGUSR1, _dump_tasks)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, main.cancel)
        self.results = results = {
            "mode": options.mode,
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "machine": machine.facts(),
            "load_average_before": machine.load(),
            "options": {k: v for k, v in asdict(options).items() if k not in ("out", "loads")},
            "loads": [asdict(load) for load in options.loads],
        }
        started = time.perf_counter()
        if results["load_average_before"][0] > 1.5:
            log.warning("the machine is busy: the numbers will be polluted", load=results["load_average_before"])
        try:
            await self.start()
            results["settings"] = {
                "edges": 1,
                "generation_workers": options.generation_workers,
                "PARLEY_NATS_PROCS": str(self.settings.nats_procs),
                **{k: v for k, v in self.env().items()},
            }
            _say("idle connections")
            results["idle"] = {"parley": await self.idle(self.parley)}
            if options.baseline:
                results["idle"]["baseline"] = await self.idle(self.direct)
            results["scenarios"] = []
            replay_sessions: list[str] = []
            for load in options.loads:
                offered = (load.arrival_rate * load.tokens) if load.arrival_rate else load.clients * load.rate
                scenario: dict[str, Any] = {**asdict(load), "offered_tokens_per_s": offered}
                scenario["load_average"] = machine.load()  # the machine is shared: say how busy it was
                scenario["parley"] = await self.chat(load, self.parley)
                if len(replay_sessions) < options.replay_sessions:
                    replay_sessions += scenario["parley"]["sessions"]
                if options.baseline:
                    scenario["baseline"] = await self.chat(load, self.direct)
                    scenario["ratios"] = _ratios(scenario["parley"], scenario["baseline"])
                for side in ("parley", "baseline"):
                    scenario.get(side, {}).pop("sessions", None)
                results["scenarios"].append(scenario)
                if load.name == options.profile_scenario and options.profile_s:
                    await self._profiles(results)  # early: a run cut short keeps it
            if options.profile_s and options.loads and "profile" not in results:
                await self._profiles(results)
            _say("resume of a long answer")
            await self.settle()
            results["resume"] = await self.resume()
            _say("full-session replays")
            await self.settle()
            results["replay"] = await self.replay(replay_sessions)
            if options.sync_compare and results["scenarios"]:
                # Last but the rebuild (which only reads): nothing after it waits on a system
                # that has just lived through a nats-server restart.
                results["nats_sync"] = await self.sync_compare(results["scenarios"])
            _say("projections rebuild")
            await self.settle()
            results["rebuild"] = await self.rebuild()
        finally:
            results["load_average_after"] = machine.load()
            results["wall_s"] = round(time.perf_counter() - started, 1)
            await self.stop(results_dir)
            self._waterfalls(results)
            results["scaling"] = curve.rows(results.get("scenarios", []))
        return results

    async def _profiles(self, results: dict[str, Any]) -> None:
        """py-spy on every Python process and nats-server's pprof, during the profiled load."""
        options = self.options
        named = [load for load in options.loads if load.name == options.profile_scenario]
        heaviest = named[0] if named else max(options.loads, key=lambda load: load.clients * load.rate)
        duration = options.profile_s * 1.5 + heaviest.answer_s + 3
        load = Load(heaviest.name, heaviest.clients, heaviest.rate, heaviest.tokens, duration)
        results["profile"] = {"scenario": heaviest.name, **await self.chat(load, self.parley, options.profile_s)}
        if options.baseline:
            direct = await self.chat(load, self.direct, options.profile_s)
            results["profile_baseline"] = {"scenario": heaviest.name, **direct}

    async def sync_compare(self, scenarios: list[dict[str, Any]]) -> dict[str, Any]:
        """One scenario again on Parley with nats-server fsyncing as ``sync_compare`` says
        (``always``: before every acknowledgement), against its run with the default policy.
        nats-server stays that way for the rest of the run (the rebuild only reads)."""
        assert self.infra is not None
        options = self.options
        named = [s for s in scenarios if s["name"] == options.profile_scenario and "parley" in s]
        first = named[0] if named else next(s for s in scenarios if "parley" in s and s["clients"] > 1)
        load = next(load for load in options.loads if load.name == first["name"])
        _say(f"nats-server again with sync_interval {options.sync_compare}; {load.name} on Parley")
        await self.settle()
        await asyncio.to_thread(self.infra.restart_nats, options.sync_compare)
        await asyncio.sleep(3.0)  # every client reconnects (they retry every 0.5 s)
        synced = await self.chat(load, self.parley)
        synced.pop("sessions", None)
        return {
            "policy": options.sync_compare,
            "default_policy": self.settings.nats_sync or "2m (nats-server's own)",
            "scenario": load.name,
            "default": first["parley"],
            "synced": synced,
        }

    def _waterfalls(self, results: dict[str, Any]) -> None:
        """Each scenario's prompts traced in its measurement window, stage by stage."""
        if self.receiver is None:
            return
        rows = spans.stages(self.receiver.spans)
        results["tracing"] = {
            "sample": self.options.trace_sample,
            "spans": len(self.receiver.spans),
            "traces": len(rows),
            "errors": self.receiver.errors[:3],
        }
        for scenario in results.get("scenarios", []):
            parley = scenario.get("parley") or {}
            if "window_at" in parley:
                parley["waterfall"] = spans.waterfall(spans.between(rows, *parley["window_at"]))


def _dump_tasks() -> None:
    for task in asyncio.all_tasks():
        task.print_stack(limit=8, file=sys.stderr)
    sys.stderr.flush()


def _with(plan: Plan, **changes: Any) -> Plan:
    import msgspec

    return msgspec.structs.replace(plan, **changes)


def _anomalies(result: Result) -> dict[str, Any]:
    kinds = ("gap", "duplicate", "short", "overrun")
    counts = {f"{k}s": sum(1 for a in result.anomalies if a.startswith(f"{k}:")) for k in kinds}
    return {**counts, "anomaly_samples": result.anomalies[:10]}


def _ratios(parley: dict[str, Any], baseline: dict[str, Any]) -> dict[str, float | None]:
    """Parley / baseline: above 1 is more throughput, or more latency."""
    return {
        "tokens_per_s": stats.ratio(parley["tokens_per_s"], baseline["tokens_per_s"]),
        "latency_p50": stats.ratio(parley["latency_ms"]["p50"], baseline["latency_ms"]["p50"]),
        "latency_p99": stats.ratio(parley["latency_ms"]["p99"], baseline["latency_ms"]["p99"]),
        "ttft_p50": stats.ratio(parley["ttft_ms"]["p50"], baseline["ttft_ms"]["p50"]),
    }
