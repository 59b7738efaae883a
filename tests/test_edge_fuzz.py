"""Hostile clients, generated: schemathesis against the live edge's OpenAPI document (the
"no server error" check), and a hypothesis fuzzer of WebSocket frames. Quick budgets here; the
same tests with a larger budget: ``PARLEY_FUZZ_SCALE=10 ./dev test-fast tests/test_edge_fuzz.py``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import jwt
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.support.sockets import ws_url

API = "/api/v1"
SECRET = "fuzz-secret-" + "x" * 24
# The fair-use limits as shipped (the harness turns them off for load): hostile clients meet them.
DEFAULT_LIMITS = {"PARLEY_SENDS_PER_MINUTE": "60", "PARLEY_ANSWERS_IN_FLIGHT": "8"}
SCALE = int(os.environ.get("PARLEY_FUZZ_SCALE", "1"))


def token(sub: str) -> str:
    return jwt.encode({"sub": sub, "exp": int(time.time()) + 3600}, SECRET, algorithm="HS256")


def error_lines(log: Path) -> list[str]:
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    return [line for line in lines if '"level": "error"' in line or "Traceback" in line]


def test_schemathesis_finds_no_server_error(make_system, tmp_path):
    system = make_system(env_extra={"PARLEY_JWT_SECRET": SECRET, "PARLEY_ADMIN_USERS": "fuzzer", **DEFAULT_LIMITS})
    url = system.edge_urls[0]
    cli = Path(sys.executable).with_name("schemathesis")
    run = subprocess.run(
        [
            str(cli),
            "run",
            f"{url}/openapi.json",
            "--checks",
            "not_a_server_error",
            "--phases",
            "coverage,fuzzing",
            "--max-examples",
            str(12 * SCALE),
            "--max-time",
            str(35 * SCALE),
            "--generation-database",
            "none",
            "--no-color",
            "--header",
            f"Authorization: Bearer {token('fuzzer')}",
            "--report-dir",
            str(tmp_path / "report"),
        ],
        cwd=tmp_path,  # its cache folder (.schemathesis/) goes there, not into the repository
        capture_output=True,
        text=True,
        timeout=120 * SCALE,
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    # Every generated case passed (warnings, e.g. ids the fuzzer could not guess, are no failure).
    counts = re.search(r"(\d+) generated, (\d+) passed", run.stdout)
    assert counts and counts[1] == counts[2] and int(counts[1]) > 100, run.stdout[-3000:]
    assert error_lines(system.workdir / "edge-0.log") == []


# -- WebSocket frames -----------------------------------------------------------------------------

FIELDS = ("type", "content", "client_message_id", "message_id", "llm_provider", "llm_model", "typing", "token")
TYPES = ("send", "cancel", "regenerate", "typing", "ping", "auth", "bogus", "")
NASTY_TEXT = ("\ud800", "\udfff", "\x00", "a\x00b", "\ufeff", "é" * 40, "𝄞", "", " ", "\\", '"')
NASTY_RAW = (
    "NaN",
    "Infinity",
    "-Infinity",
    '{"type": "send", "content": NaN}',
    '{"type": "send", "content": "x", "n": 1e999}',
    '{"type": "send", "content": "\\ud800"}',
    '{"type": "send", "content": "\\u0000"}',
    '{"type": "regenerate", "message_id": "\\u0000"}',
    '{"type": "send", "content": "x", "client_message_id": ' + "9" * 400 + "}",
    '{"type": "cancel", "message_id": "' + "00000000-0000-4000-8000-000000000000".upper() + '"}',
    "[" * 3000 + "]" * 3000,
    '{"type": ' * 50,
    "",
    "null",
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
    | st.sampled_from(NASTY_TEXT)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
typed_frames = st.builds(
    lambda kind, extra: {**extra, "type": kind},
    st.sampled_from(TYPES) | st.text(max_size=8),
    st.dictionaries(st.sampled_from(FIELDS[1:]), json_values, max_size=4),
)
frames = st.one_of(
    typed_frames.map(json.dumps),  # ensure_ascii: lone surrogates become \ud800 escapes
    json_values.map(json.dumps),
    st.sampled_from(NASTY_RAW),
    st.text(max_size=120),
    st.binary(max_size=120),  # as a binary frame: anything, including bad UTF-8
)


def until_pong(ws) -> list[dict]:
    """Frames up to and including the pong that answers our ping."""
    seen = []
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        frame = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
        seen.append(frame)
        if frame["type"] == "connectionStatus" and frame["data"].get("status") == "pong":
            return seen
    raise AssertionError(f"no pong within 15 s; saw {seen[-5:]}")


def test_socket_frames_never_kill_the_socket_or_the_handler(make_system):
    system = make_system(env_extra={"PARLEY_JWT_SECRET": SECRET, **DEFAULT_LIMITS})
    url = system.edge_urls[0]
    import httpx

    headers = {"Authorization": f"Bearer {token('fuzzer')}"}
    sid = httpx.post(f"{url}{API}/chat/sessions", headers=headers, timeout=30).json()["id"]
    with connect(ws_url(url, f"{API}/chat/websocket/{sid}?after_seq=0"), additional_headers=headers) as ws:
        ws.send(json.dumps({"type": "ping"}))
        until_pong(ws)

        @settings(
            max_examples=300 * SCALE,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(frames)
        def a_frame_gets_an_answer_and_the_socket_stays(raw):
            ws.send(raw)
            ws.send(json.dumps({"type": "ping"}))
            for frame in until_pong(ws):
                assert frame["type"] != "error" or frame["data"]["code"] != "internal", (raw, frame)

        try:
            a_frame_gets_an_answer_and_the_socket_stays()
        except ConnectionClosed as closed:
            raise AssertionError(f"the server closed the socket: {closed}") from None
    assert error_lines(system.workdir / "edge-0.log") == []
    for name in ("projections-0", "generation-0"):
        log = (system.workdir / f"{name}.log").read_text(errors="replace")
        assert "dead" not in log.lower() and "Traceback" not in log, name


async def test_hostile_socket_handshakes_are_refused_with_their_codes(make_system):
    import httpx
    import websockets

    from tests.support.sockets import closed_with

    system = make_system(env_extra={"PARLEY_JWT_SECRET": SECRET})
    url = system.edge_urls[0]
    headers = {"Authorization": f"Bearer {token('fuzzer')}"}
    async with httpx.AsyncClient(timeout=30) as client:
        sid = (await client.post(f"{url}{API}/chat/sessions", headers=headers)).json()["id"]
    cases = [
        (f"/chat/websocket/{sid}?after_seq=99999999999999999999999", headers, 4400),
        (f"/chat/websocket/{sid}?after_seq=-1", headers, 4400),
        (f"/chat/websocket/{sid}?after_seq=%00", headers, 4400),
        (f"/chat/websocket/{sid}?after_seq=1e999", headers, 4400),
        (f"/chat/websocket/{sid}?token=%00", {}, 4401),
        (f"/chat/websocket/{sid}?token=%ED%A0%80", {}, 4401),
        ("/chat/websocket/%00", headers, 4404),
        ("/chat/websocket/" + "a" * 2000, headers, 4404),
        ("/chat/llm-stream/%ED%A0%80", headers, 4404),
        (f"/chat/llm-stream/{sid.upper()}", headers, 4404),  # a session id is no answer id
    ]
    for path, extra, code in cases:
        async with websockets.connect(ws_url(url, API + path), additional_headers=extra) as ws:
            try:
                got = await closed_with(ws, wait=5)
            except TimeoutError:
                got = "still open"
            assert got == code, (path, got)
    assert error_lines(system.workdir / "edge-0.log") == []
