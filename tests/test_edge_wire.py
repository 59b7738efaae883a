"""services.edge.wire: frames are typed, and the UI's generated types are current."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

from services.edge import frames, wire
from tests.test_edge_frames import ONE_OF_EACH

WEB = Path(wire.__file__).parent / "web"
REGENERATE = "run `python -m services.edge.wire && (cd services/edge/web && npm run wire)` and commit the result"


def test_every_frame_the_edge_builds_is_a_server_frame():
    built = [frames.for_event(event, seq) for seq, event in enumerate(ONE_OF_EACH, start=1)]
    built += [
        frames.connected("s", "c", "u", None, 3),
        frames.live("s", 3),
        frames.pong("s", datetime.now(UTC)),
        frames.typing("s", "u", True, "c"),
        frames.error("s", "bad_json", "not JSON", client_message_id="c1"),
        frames.error("s", "bad_json", "not JSON"),
    ]
    for frame in built:
        assert type(wire.check(frame)).__struct_config__.tag == frame["type"]
    with pytest.raises(msgspec.ValidationError):
        wire.check({**built[-1], "data": {"code": "x"}})  # an error frame without its message


def test_the_schema_the_ui_types_come_from_is_current():
    assert (WEB / "src/wire/wire.schema.json").read_text() == wire.render(wire.openapi()), REGENERATE


def test_the_generated_typescript_is_current(tmp_path):
    generator = WEB / "node_modules/.bin/json2ts"
    if shutil.which("node") is None or not generator.exists():
        pytest.skip("the web UI's packages are not installed (./dev installs them)")
    out = tmp_path / "wire.ts"
    subprocess.run(
        [str(generator), "-i", "src/wire/wire.schema.json", "-o", str(out), "--unreachableDefinitions",
         "--additionalProperties=false"],
        cwd=WEB, check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    assert (WEB / "src/wire/wire.ts").read_text() == out.read_text(), REGENERATE
