"""Failed, stopped, retried and reloaded answers read well (issue 16, defects 8 and 9): no empty
bubble, no zero metrics, a retried failure says so and drops its Retry, a reloaded streaming
answer shows its real token count, and offline an open answer stops pretending to progress."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from tests.browser.helpers import (
    answers,
    composer,
    last_answer,
    open_new_chat,
    send,
    wait_live,
    wait_status,
    wait_tokens,
)

pytestmark = pytest.mark.browser


async def test_failed_retried_and_reloaded_answers_read_well(page, browser_context, edge_url):
    await open_new_chat(page, edge_url)
    # The provider refuses the first request (provider retries are off in this system).
    await send(page, "Flaky [[status:503x1]] [[tokens:5]] [[rate:0]]")
    failed = answers(page).first
    await wait_status(failed, "failed")
    await expect(failed.locator(".bubble")).to_have_count(0)  # nothing streamed: no empty bubble
    parts = await failed.locator(".meta-part").all_inner_texts()
    assert not any(re.fullmatch(r"0 (ms|tokens)|first token 0 ms", p) for p in parts), parts
    await failed.get_by_role("button", name="Retry").click()
    await wait_status(last_answer(page), "complete")
    # The failed version, one switch away, says it was retried and offers no Retry.
    await page.get_by_role("button", name="Previous version of this answer").click()
    await wait_status(last_answer(page), "failed")
    await expect(last_answer(page).locator(".msg-error")).to_contain_text("Retried")
    await expect(last_answer(page).get_by_role("button", name="Retry")).to_have_count(0)
    await page.get_by_role("button", name="Next version of this answer").click()
    await wait_status(last_answer(page), "complete")

    # A streaming answer, reloaded: its real token count, never "0 tokens".
    await send(page, "Long [[tokens:400]] [[rate:25]]")
    streaming = last_answer(page)
    await wait_tokens(streaming, 10)
    await page.reload()
    streaming = last_answer(page)
    await wait_tokens(streaming, 20)
    count = streaming.locator(".meta-part", has_text="tokens")
    await expect(count).to_have_text(re.compile(r"^[1-9]\d* tokens$"))
    assert int((await count.inner_text()).split()[0]) >= 20

    # Offline: Stop is disabled (it could only fail) and the answer no longer animates.
    await wait_live(page)
    await browser_context.set_offline(True)
    await expect(composer(page).get_by_role("button", name="Stop")).to_be_disabled()
    await expect(streaming.locator(".typing")).to_have_count(0)
    await expect(streaming.locator(".pill")).to_have_text("Waiting for the connection")
    await browser_context.set_offline(False)
    await wait_live(page)
    await composer(page).get_by_role("button", name="Stop").click()
    await wait_status(streaming, "cancelled")
