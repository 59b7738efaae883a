"""The ``parley`` command.

parley up                    the whole system on one machine (embedded NATS, PostgreSQL, model)
parley edge                  REST + WebSocket edge (FastAPI/uvicorn)
parley generation            a generation worker (scale by running more)
parley projections           projection workers; `projections rebuild` replays the stream
parley migrate               apply database migrations
parley events schema         JSON Schema of every stored event
parley settings              the settings table (every environment variable)
parley replay SESSION_ID     a conversation rebuilt from the event log alone (auditors)
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import sys
from collections.abc import Callable

from services import logs
from services.errors import ParleyError
from services.settings import Settings, load


def _run_module(module: str, function: str = "main") -> Callable[[Settings, argparse.Namespace], None]:
    def run(settings: Settings, args: argparse.Namespace) -> None:
        try:
            target = getattr(importlib.import_module(module), function)
        except ModuleNotFoundError as exc:
            if exc.name and module.startswith(exc.name):
                raise ParleyError(f"{module} is not part of this build") from None
            raise
        target(settings)

    return run


def _up(settings: Settings, args: argparse.Namespace) -> None:
    from services.supervisor import up

    up(settings)


def _migrate(settings: Settings, args: argparse.Namespace) -> None:
    from projections import migrate
    from services import runtime

    applied = asyncio.run(migrate.migrate(runtime.resolve(settings).database_url))
    names = [f"{m.version:03d}_{m.name}" for m in applied]
    print("applied: " + ", ".join(names) if names else "database is up to date")


def _events_schema(settings: Settings, args: argparse.Namespace) -> None:
    from events import codec

    print(json.dumps(codec.json_schema(), indent=2))


def _settings_table(settings: Settings, args: argparse.Namespace) -> None:
    from services.settings import table

    print(table())


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="parley", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("up", help="run the whole system on one machine").set_defaults(run=_up, name="up")
    sub.add_parser("edge", help="REST + WebSocket edge").set_defaults(
        run=_run_module("services.edge.main"), name="edge"
    )
    sub.add_parser("generation", help="a generation worker").set_defaults(
        run=_run_module("services.generation.main"), name="generation"
    )
    proj = sub.add_parser("projections", help="projection workers (or: projections rebuild)")
    proj.set_defaults(run=_run_module("projections.main"), name="projections")
    proj_sub = proj.add_subparsers(dest="action", metavar="ACTION")
    proj_sub.add_parser("rebuild", help="empty the read models and replay the stream").set_defaults(
        run=_run_module("projections.main", "rebuild"), name="projections-rebuild"
    )
    sub.add_parser("migrate", help="apply database migrations").set_defaults(run=_migrate, name="migrate")
    ev = sub.add_parser("events", help="the event contract")
    ev_sub = ev.add_subparsers(dest="action", required=True, metavar="ACTION")
    ev_sub.add_parser("schema", help="print the JSON Schema of every event").set_defaults(
        run=_events_schema, name="events-schema"
    )
    sub.add_parser("settings", help="print every setting as a Markdown table").set_defaults(
        run=_settings_table, name="settings"
    )
    replay = sub.add_parser("replay", help="rebuild a conversation from its events alone")
    _audit_module("replay").add_arguments(replay)
    replay.set_defaults(run=_audit_run("replay"), name="replay")
    # prefix_chars="+": every option (--quick, -h, ...) passes through to the bench's own parser.
    bench = sub.add_parser("bench", help="benchmarks (see `just bench`)", prefix_chars="+", add_help=False)
    bench.add_argument("rest", nargs=argparse.REMAINDER)
    bench.set_defaults(run=_bench, name="bench")
    return root


def _audit_module(name: str):
    return importlib.import_module(f"services.audit.{name}")


def _audit_run(name: str) -> Callable[[Settings, argparse.Namespace], None]:
    def run(settings: Settings, args: argparse.Namespace) -> None:
        _audit_module(name).main(settings, args)

    return run


def _bench(settings: Settings, args: argparse.Namespace) -> None:
    try:
        from services.bench.main import main as bench_main
    except ModuleNotFoundError:
        raise ParleyError("benchmarks are not part of this build") from None
    bench_main(settings, args.rest)


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        settings = load()
        logs.configure(settings.log_level, settings.log_format, process=args.name)
        args.run(settings, args)
    except ParleyError as exc:
        # One clear line, not a traceback: the message names what to fix.
        print(f"parley {args.name}: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
