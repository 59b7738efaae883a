"""Browser tests: the real web UI in Chromium (Playwright for Python, the Debian ``chromium``
binary) against the whole system running as real processes (``make_system``).

The UI is built once per run when ``services/edge/web/dist`` is missing or older than its sources.
Every test gets a fresh browser context (no shared storage); console errors, page errors and
dialogs are recorded on ``page.parley_log`` so tests can assert that nothing ran that should not.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

WEB = Path(__file__).resolve().parents[2] / "services" / "edge" / "web"
CHROMIUM = os.environ.get("PARLEY_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _newest_source() -> float:
    paths = [WEB / "index.html", WEB / "package.json", WEB / "package-lock.json", WEB / "vite.config.ts"]
    paths += [p for folder in ("src", "public") for p in (WEB / folder).rglob("*") if p.is_file()]
    return max(p.stat().st_mtime for p in paths if p.exists())


@pytest.fixture(scope="session")
def web_dist() -> Path:
    """The built UI (built here when missing or stale, as ``./dev`` does)."""
    npm = shutil.which("npm")
    index = WEB / "dist" / "index.html"
    stale = not index.exists() or index.stat().st_mtime < _newest_source()
    if stale:
        if npm is None:
            pytest.fail("the web UI is not built and npm is missing: install Node.js (20+) and run ./dev")
        if not (WEB / "node_modules").is_dir():
            subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=WEB, check=True)
        subprocess.run([npm, "run", "build", "--silent"], cwd=WEB, check=True)
    return index.parent


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install chromium` (./dev test does it)")
    return CHROMIUM


@pytest.fixture
async def chromium(chromium_path) -> AsyncIterator[object]:
    # The async API: Playwright's sync API marks the thread's event loop as running, which
    # breaks pytest-asyncio's own fixtures (database_url). One browser per test keeps it simple.
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium_path, args=LAUNCH_ARGS)
        yield browser
        await browser.close()


@dataclass
class PageLog:
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


@pytest.fixture
async def browser_context(chromium, request) -> AsyncIterator[object]:
    from playwright.async_api import expect

    expect.set_options(timeout=20_000)
    viewport = getattr(request, "param", None) or {"width": 1280, "height": 800}
    context = await chromium.new_context(viewport=viewport, color_scheme="light")
    context.set_default_timeout(20_000)
    yield context
    await context.close()


@pytest.fixture
async def page(browser_context) -> AsyncIterator[object]:
    page = await browser_context.new_page()
    log = PageLog()

    async def on_dialog(dialog) -> None:
        log.dialogs.append(f"{dialog.type}: {dialog.message}")
        await dialog.dismiss()

    page.on("console", lambda m: m.type == "error" and log.console_errors.append(m.text))
    page.on("pageerror", lambda e: log.page_errors.append(str(e)))
    page.on("dialog", on_dialog)
    page.parley_log = log
    yield page
    # No uncaught exception in the app, whatever the test did.
    assert log.page_errors == [], log.page_errors


@pytest.fixture
def system(make_system, web_dist):
    """The whole system with the scripted LLM as the local provider, serving the built UI."""
    return make_system(env_extra={"PARLEY_WEB_DIST": str(web_dist), "PARLEY_PROVIDER_RETRIES": "0"})


@pytest.fixture
def edge_url(system) -> str:
    return system.edge_urls[0]


async def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=False, animations="disabled")
    return path
