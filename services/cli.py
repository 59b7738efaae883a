"""The ``parley`` command: registration only; each command lives in ``services/commands/``.

Built on Typer (Click underneath): rich ``--help``, shell completion, typed options. To add a
command see ``services/commands/__init__.py``: a module there, one registration line here.
"""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import Annotated

import typer

from services.commands import audit, backup, bench, common, doctor, export, migrate, reference, replay, service, up
from services.errors import ParleyError

app = typer.Typer(
    name="parley",
    help="Parley: event-sourced, real-time LLM chat on NATS JetStream.\n\n" + common.EXIT_CODES_HELP,
    no_args_is_help=True,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,  # a ParleyError is one line on stderr, not a traceback
)


def _version() -> str:
    try:
        return package_version("parley")
    except PackageNotFoundError:  # running from a checkout that is not installed
        return "unknown"


def _show_version(value: bool) -> None:
    if value:
        print(f"parley {_version()}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", "-V", help="Print the version and exit.", callback=_show_version, is_eager=True)
    ] = False,
) -> None:
    """Parley: event-sourced, real-time LLM chat on NATS JetStream."""


# -- registration: one line per command ------------------------------------------------------------
app.command(rich_help_panel="Run")(up.up)
app.command(rich_help_panel="Run")(doctor.doctor)
app.command(rich_help_panel="Services")(service.edge)
app.command(rich_help_panel="Services")(service.generation)
projections = typer.Typer(help="Projection workers; `parley projections rebuild` replays the stream into them.")
projections.callback(invoke_without_command=True)(service.projections_group)
projections.command("rebuild")(service.projections_rebuild)
app.add_typer(projections, name="projections", rich_help_panel="Services")
app.command(rich_help_panel="Maintenance")(migrate.migrate)
app.command(rich_help_panel="Maintenance")(backup.backup)
app.command(rich_help_panel="Maintenance")(backup.restore)
events = typer.Typer(help="The event contract.", no_args_is_help=True)
events.command("schema")(reference.events_schema)
app.add_typer(events, name="events", rich_help_panel="Reference")
app.command("settings", rich_help_panel="Reference")(reference.settings_table)
app.command(rich_help_panel="Audit")(replay.replay)
app.add_typer(audit.app, name="audit", rich_help_panel="Audit")
app.command(rich_help_panel="Audit")(export.export)
app.command(context_settings=bench.CONTEXT, add_help_option=False, rich_help_panel="Measure")(bench.bench)


# --------------------------------------------------------------------------------------------------


def command():  # a click-compatible command (Typer >= 0.26 ships its own Click)
    """The Click command behind ``app`` (tests resolve command lines with it)."""
    return typer.main.get_command(app)


def resolve(argv: list[str]) -> str:
    """The name of the command ``argv`` runs ("projections-rebuild"), running nothing;
    ``LookupError`` when ``parley`` has no such command. Options are skipped, not checked."""
    cmd, names = command(), []
    ctx = typer.Context(cmd, info_name="parley")
    for token in argv:
        if token.startswith("-"):
            continue
        if not hasattr(cmd, "get_command"):  # a leaf command: the rest are its arguments
            break
        sub = cmd.get_command(ctx, token)
        if sub is None:
            raise LookupError(f"parley has no command `{' '.join([*names, token])}`")
        names.append(token)
        cmd, ctx = sub, typer.Context(sub, parent=ctx, info_name=token)
    return "-".join(names)


def main(argv: list[str] | None = None) -> None:
    try:
        # Click's standalone mode: usage errors (exit 2), Ctrl-C (130), --help and --version.
        command().main(args=argv, prog_name="parley")
    except ParleyError as exc:
        # One clear line, not a traceback: the message names what to fix.
        for line in str(exc).splitlines() or [""]:
            print(f"parley {common.current}: error: {line}", file=sys.stderr)
        sys.exit(common.EXIT_USAGE)


if __name__ == "__main__":
    main()
