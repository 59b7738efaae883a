"""What ``parley up`` refuses to start with: a taken port or an unusable data folder, one line each."""

from __future__ import annotations

import socket

import pytest

from services import preflight
from services.embedded import free_port
from services.settings import Settings, load


def _settings(tmp_path, **values) -> Settings:
    env = {
        "PARLEY_DATA_DIR": str(tmp_path / "data"),
        "PARLEY_PORT": str(free_port()),
        "PARLEY_NATS_PORT": str(free_port()),
        "PARLEY_PG_PORT": str(free_port()),
        "PARLEY_MODEL_PORT": str(free_port()),
        "PARLEY_MIN_FREE_MB": "1",
    }
    return load(env | values)


def test_a_free_machine_has_no_problems(tmp_path):
    assert preflight.problems(_settings(tmp_path)) == []


@pytest.mark.parametrize(
    ("variable", "named"),
    [
        ("PARLEY_PORT", "set PARLEY_PORT"),
        ("PARLEY_NATS_PORT", "set PARLEY_NATS_PORT or NATS_URL"),
        ("PARLEY_PG_PORT", "set PARLEY_PG_PORT or DATABASE_URL"),
        ("PARLEY_MODEL_PORT", "set PARLEY_MODEL_PORT or PARLEY_LOCAL_BASE_URL"),
    ],
)
def test_each_port_in_use_is_one_line_naming_the_setting(tmp_path, variable, named):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        found = preflight.problems(_settings(tmp_path, **{variable: str(port)}))
    assert found == [found[0]] and f"port {port}" in found[0] and found[0].endswith(named)


def test_ports_of_external_servers_are_not_checked(tmp_path):
    settings = _settings(
        tmp_path,
        NATS_URL="nats://127.0.0.1:1",
        DATABASE_URL="postgresql://u@127.0.0.1:1/d",
        PARLEY_LOCAL_BASE_URL="http://127.0.0.1:1/v1",
    )
    assert [p.what for p in preflight.ports(settings)] == ["edge (web UI and API)"]


def test_a_data_folder_that_cannot_be_created_names_the_setting(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    found = preflight.problems(_settings(tmp_path, PARLEY_DATA_DIR=str(blocker / "data")))
    assert len(found) == 1 and "not writable" in found[0] and found[0].endswith("set PARLEY_DATA_DIR")


def test_too_little_free_space_names_the_settings(tmp_path):
    found = preflight.problems(_settings(tmp_path, PARLEY_MIN_FREE_MB=str(2**40)))
    assert len(found) == 1 and "MiB free" in found[0] and "PARLEY_DATA_DIR" in found[0]
