"""Screenshots of the dashboard and the chat at 375 px and 1280 px (artifacts/screenshots/)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot
from tests.browser.helpers import create_session, post_message, wait_server

pytestmark = pytest.mark.browser

ANSWER = (
    "Sure! Here is a small **Python** function that retries a call with exponential backoff:\n\n"
    "```python\nimport random, time\n\ndef retry(call, attempts=5, base=0.5):\n"
    "    for n in range(attempts):\n        try:\n            return call()\n        except ConnectionError:\n"
    "            time.sleep(base * 2 ** n * random.uniform(0.5, 1))\n    raise TimeoutError('gave up')\n```\n\n"
    "Each retry waits about twice as long as the one before, with *jitter* so that many clients do not retry in step."
)


def seed(edge_url: str) -> str:
    for title in ("Release notes draft", "SQL index questions"):
        s = create_session(edge_url, title)
        post_message(edge_url, s["id"], "Hello [[tokens:12]] [[rate:0]]")
    main = create_session(edge_url, "Retry with backoff")
    post_message(edge_url, main["id"], f"How do I retry a flaky call in Python? [[reply:{ANSWER}]] [[rate:0]]")
    post_message(
        edge_url,
        main["id"],
        "And in one sentence? [[reply:Wait longer after each failure, plus a little randomness.]] [[rate:0]]",
    )
    wait_server(
        edge_url, main["id"], lambda ms: sum(m["status"] == "complete" for m in ms if m["role"] == "assistant") == 2
    )
    return main["id"]


@pytest.mark.parametrize(
    "browser_context,width",
    [({"width": 1280, "height": 800}, 1280), ({"width": 375, "height": 740}, 375)],
    indirect=["browser_context"],
)
def test_screenshots(page, edge_url, width):
    sid = seed(edge_url)
    page.goto(f"{edge_url}/#/chat/{sid}")
    expect(page.locator('article.msg.assistant[data-status="complete"]')).to_have_count(2)
    expect(page.locator(".conn-badge")).to_have_attribute("data-phase", "live")
    page.wait_for_timeout(300)
    screenshot(page, f"chat-{width}")
    page.goto(f"{edge_url}/#/")
    expect(page.locator(".stat").first).to_be_visible()
    expect(page.locator('[data-provider="local"] .health')).to_have_text("healthy")
    expect(page.locator(".preview-msg")).to_have_count(3)
    page.wait_for_timeout(300)
    screenshot(page, f"dashboard-{width}")
    if width == 1280:
        page.emulate_media(color_scheme="dark")
        page.goto(f"{edge_url}/#/chat/{sid}")
        expect(page.locator('article.msg.assistant[data-status="complete"]')).to_have_count(2)
        page.wait_for_timeout(300)
        screenshot(page, "chat-1280-dark")
