"""services.runtime: explicit settings win, else a running `parley up`'s addresses."""

from __future__ import annotations

import pytest

from services import runtime
from services.errors import SettingsError
from services.settings import load


def test_nothing_set_and_nothing_running_names_the_variable(tmp_path):
    settings = load({"PARLEY_DATA_DIR": str(tmp_path)})
    with pytest.raises(SettingsError, match=r"^NATS_URL: not set"):
        runtime.resolve(settings)


def test_the_database_is_required_unless_the_process_needs_none(tmp_path):
    settings = load({"PARLEY_DATA_DIR": str(tmp_path), "NATS_URL": "nats://127.0.0.1:4222"})
    with pytest.raises(SettingsError, match=r"^DATABASE_URL: not set"):
        runtime.resolve(settings)
    rt = runtime.resolve(settings, database=False)
    assert (rt.nats_url, rt.database_url) == ("nats://127.0.0.1:4222", None)


def test_a_running_up_fills_in_what_is_unset_and_settings_win(tmp_path):
    runtime.Runtime("nats://up:1", "postgresql://up/db", "http://up:2/v1").write(tmp_path)
    settings = load({"PARLEY_DATA_DIR": str(tmp_path), "NATS_URL": "nats://mine:3"})
    assert runtime.resolve(settings) == runtime.Runtime("nats://mine:3", "postgresql://up/db", "http://up:2/v1")
    runtime.clear(tmp_path)
    assert runtime.read(tmp_path) is None
