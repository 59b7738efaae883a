"""Screenshots of the dashboard and the chat at 375 px and 1280 px, saved to artifacts/screenshots/."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.browser.conftest import screenshot
from tests.browser.helpers import answered, api, create_session, post_message

pytestmark = pytest.mark.browser

ANSWER = (
    "Sure! Here is a small **Python** function that retries a call with exponential backoff:\n\n"
    "```python\nimport random, time\n\ndef retry(call, attempts=5, base=0.5):\n"
    "    for n in range(attempts):\n        try:\n            return call()\n        except ConnectionError:\n"
    "            time.sleep(base * 2 ** n * random.uniform(0.5, 1))\n    raise TimeoutError('gave up')\n```\n\n"
    "Each retry waits about twice as long as the one before, with *jitter* so that many clients do not retry in step."
)


async def ask(system, edge_url: str, sid: str, question: str, reply: str, n: int) -> None:
    """Ask with the scripted LLM's server-wide reply set, so the question reads as a person wrote it."""
    await api("POST", f"{system.llm_url}/_script", json={"reply": reply, "rate": 0})
    await post_message(edge_url, sid, question)
    await answered(edge_url, sid, n)


async def seed(system, edge_url: str) -> str:
    for title, question, reply in (
        (
            "Release notes draft",
            "Draft three bullet points for the release notes.",
            "- Faster reconnects\n- Offline history\n- Dark mode",
        ),
        ("SQL index questions", "When does an index on a boolean column help?", "Rarely: only when one value is rare."),
    ):
        s = await create_session(edge_url, title)
        await ask(system, edge_url, s["id"], question, reply, 1)
    main = await create_session(edge_url, "Retry with backoff")
    await ask(system, edge_url, main["id"], "How do I retry a flaky call in Python?", ANSWER, 1)
    await ask(
        system,
        edge_url,
        main["id"],
        "And in one sentence?",
        "Wait longer after each failure, plus a little randomness.",
        2,
    )
    await api("DELETE", f"{system.llm_url}/_script")
    return main["id"]


@pytest.mark.parametrize(
    ("browser_context", "width"),
    [({"width": 1280, "height": 800}, 1280), ({"width": 375, "height": 740}, 375)],
    indirect=["browser_context"],
)
async def test_screenshots(page, system, edge_url, width):
    sid = await seed(system, edge_url)
    await page.goto(f"{edge_url}/#/chat/{sid}")
    await expect(page.locator('article.msg.assistant[data-status="complete"]')).to_have_count(2)
    await expect(page.locator(".conn-badge")).to_have_attribute("data-phase", "live")
    await page.wait_for_timeout(300)
    await screenshot(page, f"chat-{width}")
    await page.goto(f"{edge_url}/#/")
    await expect(page.locator(".stat").first).to_be_visible()
    await expect(page.locator('[data-provider="local"] .health')).to_have_text("healthy")
    await expect(page.locator(".preview-msg")).to_have_count(3)
    await page.wait_for_timeout(300)
    await screenshot(page, f"dashboard-{width}")
    if width == 1280:
        await page.emulate_media(color_scheme="dark")
        await page.goto(f"{edge_url}/#/chat/{sid}")
        await expect(page.locator('article.msg.assistant[data-status="complete"]')).to_have_count(2)
        await page.wait_for_timeout(300)
        await screenshot(page, "chat-1280-dark")
