"""The runtime wheel: development tools stay in the repository, out of what is shipped."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_wheel_leaves_the_development_tools_out(tmp_path):
    # setuptools builds in ./build and keeps what an older build put there: start and end without it.
    shutil.rmtree(ROOT / "build", ignore_errors=True)
    try:
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(tmp_path), str(ROOT)],
            check=True,
            capture_output=True,
            timeout=300,
        )
    finally:
        shutil.rmtree(ROOT / "build", ignore_errors=True)
    (wheel,) = tmp_path.glob("parley-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "services/edge/app.py" in names and "projections/migrations/001_chat.sql" in names
    tools = [n for n in names if n.startswith(("services/bench/", "services/scripted_llm/", "services/chaos/"))]
    assert tools == []
