"""With auth on, the UI asks for a token, takes one from ?token=, and sends it on REST and sockets."""

from __future__ import annotations

import time

import jwt
import pytest
from playwright.async_api import expect

from tests.browser.helpers import answer_text, last_answer, message_box, send, tokens_of, wait_live, wait_status

pytestmark = pytest.mark.browser

SECRET = "browser-test-secret-of-at-least-32-bytes"


def token(sub: str = "alice") -> str:
    return jwt.encode({"sub": sub, "exp": int(time.time()) + 3600}, SECRET, algorithm="HS256")


@pytest.fixture
def secured_url(make_system, web_dist) -> str:
    system = make_system(
        env_extra={"PARLEY_WEB_DIST": str(web_dist), "PARLEY_PROVIDER_RETRIES": "0", "PARLEY_JWT_SECRET": SECRET}
    )
    return system.edge_urls[0]


async def test_without_a_token_the_ui_asks_for_one_and_then_works(page, secured_url):
    await page.goto(f"{secured_url}/#/chat")
    prompt = page.locator("form.token-bar")
    await expect(prompt).to_contain_text("This server requires an access token")
    await expect(page.locator("form.composer .blocked")).to_contain_text("needs an access token")
    # A wrong token is refused and the prompt stays.
    await prompt.get_by_label("Access token").fill("not-a-jwt")
    await prompt.get_by_role("button", name="Use token").click()
    await expect(prompt).to_be_visible()
    await prompt.get_by_label("Access token").fill(token())
    await prompt.get_by_role("button", name="Use token").click()
    await expect(prompt).to_have_count(0)
    await send(page, "Authorized [[tokens:5]] [[rate:0]]")
    await wait_live(page)  # the socket authenticated with its first frame
    await wait_status(last_answer(page), "complete")
    assert tokens_of(await answer_text(last_answer(page))) == list(range(5))


async def test_a_token_in_the_address_is_kept_and_removed_from_the_url(page, secured_url):
    bob = token("bob")
    await page.goto(f"{secured_url}/?token={bob}#/chat")
    await expect(message_box(page)).to_be_visible()
    assert "token=" not in page.url
    assert await page.evaluate("localStorage.getItem('parley.token')") == bob
    await send(page, "From the link [[tokens:3]] [[rate:0]]")
    await wait_status(last_answer(page), "complete")
    await expect(page.locator("form.token-bar")).to_have_count(0)
    # Reloading keeps working: the token is in localStorage.
    await page.reload()
    await wait_live(page)
    await expect(page.locator("form.token-bar")).to_have_count(0)
