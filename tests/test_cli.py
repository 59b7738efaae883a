"""The ``parley`` command line: help for every command, --version, completion, errors and exit codes."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from services import cli
from services.commands import common


def _commands(cmd=None, path=()):
    """Every command path of ``parley``, groups included: ("up",), ("projections", "rebuild"), ..."""
    cmd = cmd or cli.command()
    ctx = None
    for name in cmd.list_commands(ctx) if hasattr(cmd, "list_commands") else []:
        sub = cmd.get_command(ctx, name)
        yield (*path, name)
        yield from _commands(sub, (*path, name))


def _parley(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "120", **(env or {})},
    )


def test_the_command_list_is_what_the_readme_and_deploy_use():
    paths = set(_commands())
    assert {("up",), ("edge",), ("generation",), ("projections",), ("projections", "rebuild")} <= paths
    assert {("migrate",), ("events",), ("events", "schema"), ("settings",), ("bench",)} <= paths


@pytest.mark.parametrize("path", sorted(_commands()), ids=lambda p: " ".join(p))
def test_every_command_has_help_with_a_one_line_description_of_it_and_each_option(path, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main([*path, "--help"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0, out
    if path == ("bench",):  # the bench's own parser: every option has a help line
        assert "--throughput-clients" in out
        return
    assert "Usage: parley " + " ".join(path) in out
    cmd = cli.command()
    for name in path:
        cmd = cmd.get_command(None, name)
    assert cmd.help and cmd.help.strip(), f"parley {' '.join(path)} has no description"
    for param in cmd.params:
        if param.name != "help":
            assert getattr(param, "help", None), f"parley {' '.join(path)}: {param.name} has no description"


def test_root_help_lists_commands_with_descriptions_and_the_exit_codes():
    result = _parley("--help")
    assert result.returncode == 0
    assert "``" not in result.stdout  # no reStructuredText leaking into the help
    for name in ("up", "edge", "generation", "projections", "migrate", "events", "settings", "bench"):
        assert f" {name} " in result.stdout
    assert "Exit codes" in result.stdout and "130" in result.stdout


def test_up_help_names_what_it_starts_and_the_settings_that_matter():
    out = _parley("up", "--help").stdout
    for part in ("NATS", "PostgreSQL", "model", "PARLEY_PORT", "PARLEY_NATS_PORT", "PARLEY_PG_PORT", "--open"):
        assert part in out


def test_version():
    result = _parley("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("parley ") and result.stdout.split()[1][0].isdigit()


def test_shell_completion_script_is_offered_for_bash():
    result = _parley("--show-completion", "bash")
    assert result.returncode == 0, result.stderr
    assert "_PARLEY_COMPLETE" in result.stdout


def test_completion_completes_command_names():
    result = subprocess.run(
        [sys.executable, "-m", "services.cli"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "_PARLEY_COMPLETE": "complete_bash", "COMP_WORDS": "parley proj", "COMP_CWORD": "1"},
    )
    assert "projections" in result.stdout, result.stdout + result.stderr


def test_an_unknown_command_is_a_usage_error_on_stderr():
    result = _parley("edges")
    assert result.returncode == common.EXIT_USAGE == 2
    assert result.stdout == ""
    assert "No such command" in result.stderr


def test_a_bad_setting_is_one_line_on_stderr_naming_the_variable():
    result = _parley("migrate", env={"DATABASE_URL": "nonsense"})
    assert result.returncode == common.EXIT_USAGE
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith("parley migrate: error: DATABASE_URL")


def test_resolve_names_the_command_a_command_line_runs():
    assert cli.resolve(["projections", "rebuild"]) == "projections-rebuild"
    assert cli.resolve(["bench", "--quick", "--clients", "3"]) == "bench"
    with pytest.raises(LookupError, match="edges"):
        cli.resolve(["edges"])
