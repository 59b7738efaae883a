"""Settings: typed, from the environment; a bad value fails naming its variable."""

from __future__ import annotations

import subprocess
import sys

import pytest

from services.errors import SettingsError
from services.settings import Settings, load, table


def test_defaults_need_no_environment():
    s = load({})
    assert s.nats_url is None and s.database_url is None and s.local_base_url is None
    assert s.port == 8000 and s.max_message_bytes == 32 * 1024
    assert not s.auth_enabled


def test_values_are_parsed_to_their_types():
    s = load(
        {
            "PARLEY_PORT": "9001",
            "PARLEY_FAILOVER": "openrouter, local:other",
            "PARLEY_CHUNK_FLUSH_MS": "2.5",
            "NATS_URL": "nats://a:4222,nats://b:4222",
            "PARLEY_JWT_SECRET": "x" * 32,
        }
    )
    assert s.port == 9001 and s.failover == ["openrouter", "local:other"] and s.chunk_flush_ms == 2.5
    assert s.auth_enabled


def test_a_given_mapping_is_read_instead_of_the_environment(monkeypatch):
    monkeypatch.setenv("PARLEY_PORT", "9999")
    monkeypatch.setenv("NATS_URL", "nonsense")  # would fail if read
    assert load({}).port == 8000
    assert load({"PARLEY_PORT": "9001"}).port == 9001
    monkeypatch.delenv("NATS_URL")
    assert load().port == 9999  # no mapping: the process environment


def test_blank_means_unset():
    assert load({"NATS_URL": ""}).nats_url is None


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("NATS_URL", "nonsense"),
        ("NATS_URL", "http://x:4222"),
        ("DATABASE_URL", "mysql://x/y"),
        ("PARLEY_PORT", "eighty"),
        ("PARLEY_PORT", "70000"),
        ("PARLEY_FAILOVER", "local,bogus"),
        ("PARLEY_LOG_LEVEL", "loud"),
        ("PARLEY_LOCAL_BASE_URL", "localhost:8080"),
        ("PARLEY_CHUNK_MAX_TOKENS", "0"),
        ("PARLEY_NATS_SYNC", "sometimes"),
        ("PARLEY_NATS_SYNC", "5"),
        ("PARLEY_NATS_PROCS", "-1"),
    ],
)
def test_bad_value_names_the_variable(variable, value):
    with pytest.raises(SettingsError) as info:
        load({variable: value})
    message = str(info.value)
    assert message.startswith(f"{variable}: ")
    assert "\n" not in message


def test_table_lists_every_variable():
    text = table()
    for name, field in Settings.model_fields.items():
        assert f"`{field.validation_alias.choices[0]}`" in text, name


def test_bad_setting_ends_startup_with_one_line_not_a_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "services.cli", "up"],
        env={"NATS_URL": "nonsense", "PATH": "/usr/bin:/bin", "PARLEY_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "parley up: error: NATS_URL: expected nats://host:port[,nats://...], got 'nonsense'"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PARLEY_JWT_SECRET", "hunter2-too-short"),
        ("PARLEY_NATS_STORE_KEY", "hunter2"),
        ("DATABASE_URL", "mysql://parley:hunter2@db:5432/parley"),
        ("NATS_URL", "http://parley:hunter2@nats:4222"),
        ("PARLEY_LOCAL_BASE_URL", "ftp://me:hunter2@model/v1"),
    ],
)
def test_a_bad_secret_is_never_quoted_in_the_error(variable, value):
    # The error ends up in logs and terminals: it names the variable, never the secret.
    with pytest.raises(SettingsError) as caught:
        load({variable: value})
    assert variable in str(caught.value)
    assert "hunter2" not in str(caught.value)
