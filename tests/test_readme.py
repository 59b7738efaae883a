"""The README tells the truth: its commands are the ones CI runs, its settings table is current."""

from __future__ import annotations

from pathlib import Path

from services.settings import table

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_ci_runs_the_readme_test_command():
    assert "./dev test    # installs everything, then runs the whole test suite" in README
    ci = (ROOT / ".ci" / "run").read_text()
    assert "exec ./dev test\n" in ci


def test_the_run_command_is_documented_right_under_the_picture():
    picture_end = README.index("```\n\n## Two commands")
    assert README.index("./dev up ") > picture_end


def test_settings_table_matches_the_settings():
    # Regenerate with `parley settings` when a setting changes.
    assert table() in README
