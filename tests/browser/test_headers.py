"""The UI under its own Content-Security-Policy (no violation while chatting), and its IndexedDB
cache kept per user and deleted when the token changes (issue 11, "the browser")."""

from __future__ import annotations

import time

import jwt
import pytest
from playwright.async_api import expect

from tests.browser.helpers import answer_text, last_answer, message_box, send, tokens_of, wait_live, wait_status

pytestmark = pytest.mark.browser

SECRET = "browser-headers-secret-of-at-least-32-bytes"


def token(sub: str) -> str:
    return jwt.encode({"sub": sub, "exp": int(time.time()) + 3600}, SECRET, algorithm="HS256")


@pytest.fixture
def secured_url(make_system, web_dist) -> str:
    system = make_system(
        env_extra={"PARLEY_WEB_DIST": str(web_dist), "PARLEY_PROVIDER_RETRIES": "0", "PARLEY_JWT_SECRET": SECRET}
    )
    return system.edge_urls[0]


async def cache_names(page) -> list[str]:
    return await page.evaluate("async () => (await indexedDB.databases()).map(d => d.name).sort()")


async def caches_until(page, check, within_s: float = 10.0) -> list[str]:
    deadline = time.monotonic() + within_s
    while True:
        names = await cache_names(page)
        if check(names) or time.monotonic() > deadline:
            return names
        await page.wait_for_timeout(100)


async def test_the_ui_runs_under_its_csp_and_keeps_each_users_cache_apart(page, secured_url):
    violations: list[str] = []
    page.on("console", lambda m: "Content Security Policy" in m.text and violations.append(m.text))
    response = await page.goto(f"{secured_url}/?token={token('alice')}#/chat")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    await page.evaluate(
        "document.addEventListener('securitypolicyviolation', e => (window.__csp ||= []).push(e.violatedDirective))"
    )
    await expect(message_box(page)).to_be_visible()
    await send(page, "Under the policy [[tokens:4]] [[rate:0]]")
    await wait_live(page)
    await wait_status(last_answer(page), "complete")
    assert tokens_of(await answer_text(last_answer(page))) == list(range(4))
    assert await page.evaluate("window.__csp || []") == [] and violations == []
    names = await caches_until(page, lambda n: "parley:alice" in n)
    assert "parley:alice" in names, names

    # Another user on the same browser: alice's cached history is deleted, bob gets his own.
    await page.goto(f"{secured_url}/?token={token('bob')}#/chat")
    await expect(message_box(page)).to_be_visible()
    names = await caches_until(page, lambda n: "parley:alice" not in n and "parley:bob" in n)
    assert "parley:alice" not in names and "parley:bob" in names, names
    assert violations == []
