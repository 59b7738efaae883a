"""What the browser tests do and read, in the UI's own terms (roles, labels, data attributes)."""

from __future__ import annotations

import asyncio
import re
import time

import httpx
from playwright.async_api import Error, Locator, Page, expect

API = "/api/v1"


def composer(page: Page) -> Locator:
    return page.locator("form.composer").last


def message_box(page: Page) -> Locator:
    return composer(page).get_by_role("textbox", name="Message")


async def send(page: Page, text: str) -> None:
    box = message_box(page)
    await expect(box).to_be_editable()
    await box.fill(text)
    await expect(composer(page).get_by_role("button", name="Send message")).to_be_enabled()
    await box.press("Enter")


def answers(page: Page) -> Locator:
    return page.locator("article.msg.assistant")


def last_answer(page: Page) -> Locator:
    return answers(page).last


async def answer_text(answer: Locator) -> str:
    return (await answer.locator(".bubble .md").inner_text()).strip()


def tokens_of(text: str) -> list[int]:
    """The scripted LLM's default reply is ``tok0 tok1 ...``: its numbers, in the order shown."""
    return [int(n) for n in re.findall(r"tok(\d+)", text)]


async def wait_tokens(answer: Locator, at_least: int, within_s: float = 20.0) -> list[int]:
    deadline = time.monotonic() + within_s
    seen: list[int] = []
    while time.monotonic() < deadline:
        if await answer.locator(".bubble .md").count():
            seen = tokens_of(await answer_text(answer))
            if len(seen) >= at_least:
                return seen
        await asyncio.sleep(0.05)
    raise AssertionError(f"fewer than {at_least} tokens shown within {within_s}s: {seen!r}")


async def wait_status(answer: Locator, status: str, ms: float = 30_000) -> None:
    await expect(answer).to_have_attribute("data-status", status, timeout=ms)


async def session_id(page: Page) -> str:
    await expect(page).to_have_url(re.compile(r"#/chat/[^/]+$"))
    return page.url.rsplit("/", 1)[-1]


def connection(page: Page) -> Locator:
    return page.locator(".conn-badge")


async def wait_live(page: Page, ms: float = 20_000) -> None:
    await expect(connection(page)).to_have_attribute("data-phase", "live", timeout=ms)


async def api(method: str, url: str, **kwargs) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.request(method, url, **kwargs)
    response.raise_for_status()
    return response


async def server_messages(edge_url: str, sid: str) -> list[dict]:
    # Every branch: regenerated answers and edits are versions, one of which is on screen.
    params = {"page_size": 200, "branches": "all"}
    response = await api("GET", f"{edge_url}{API}/chat/sessions/{sid}/messages", params=params)
    return response.json()


async def wait_server(edge_url: str, sid: str, check, within_s: float = 30.0) -> list[dict]:
    """Poll the server's messages until ``check(messages)`` holds."""
    deadline = time.monotonic() + within_s
    messages: list[dict] = []
    while time.monotonic() < deadline:
        messages = await server_messages(edge_url, sid)
        if check(messages):
            return messages
        await asyncio.sleep(0.1)
    summary = [(m["role"], m["status"], m["content"][:40]) for m in messages[-6:]]
    raise AssertionError(f"server messages never satisfied the check; {len(messages)} messages, the last: {summary}")


async def sessions(edge_url: str) -> list[dict]:
    return (await api("GET", f"{edge_url}{API}/chat/sessions")).json()


async def create_session(edge_url: str, title: str) -> dict:
    return (await api("POST", f"{edge_url}{API}/chat/sessions", json={"title": title})).json()


async def post_message(edge_url: str, sid: str, content: str) -> dict:
    return (await api("POST", f"{edge_url}{API}/chat/sessions/{sid}/messages", json={"content": content})).json()


async def answered(edge_url: str, sid: str, n: int, within_s: float = 30.0) -> list[dict]:
    """Wait until the session holds ``n`` answers (one per prompt) and none is still open; the newest page."""
    deadline = time.monotonic() + within_s
    while True:
        session = (await api("GET", f"{edge_url}{API}/chat/sessions/{sid}")).json()
        newest = await server_messages(edge_url, sid)
        answers = sum(m["role"] == "assistant" for m in newest)
        settled = all(m["status"] not in ("pending", "streaming") for m in newest)
        if settled and (answers >= n or (session["message_count"] >= 2 * n and len(newest) >= 200)):
            return newest
        if time.monotonic() > deadline:
            raise AssertionError(f"{n} answers not there within {within_s}s: {session['message_count']} messages")
        await asyncio.sleep(0.1)


async def open_new_chat(page: Page, edge_url: str) -> None:
    await page.goto(f"{edge_url}/#/chat")
    await expect(message_box(page)).to_be_visible()


async def retry_now(page: Page) -> None:
    """Skip the rest of the backoff delay, if a retry is still waiting (it may start on its own)."""
    button = page.get_by_role("button", name="Retry now")
    try:
        if await button.is_visible():
            await button.click(timeout=2_000)
    except Error:
        pass  # the scheduled retry started meanwhile and the button went away


async def slow_api(page: Page, ms: float) -> None:
    """Add ``ms`` of latency to every REST call of ``page`` (a slow network, as far as the UI knows)."""

    async def delay(route) -> None:
        await asyncio.sleep(ms / 1000)
        try:
            await route.continue_()
        except Error:
            pass  # the page went away meanwhile

    await page.route(re.compile(r".*/api/v1/(?!ws).*"), delay)


# Every message this browser's history cache (IndexedDB, src/store.ts) holds, in any user's database.
_CACHED = """async () => {
  const names = (await indexedDB.databases()).map((d) => d.name).filter((n) => n && n.startsWith("parley"));
  const out = [];
  for (const name of names) {
    const db = await new Promise((ok, fail) => { const r = indexedDB.open(name); r.onsuccess = () => ok(r.result); r.onerror = () => fail(r.error); });
    if (db.objectStoreNames.contains("messages")) {
      const all = db.transaction("messages").objectStore("messages").getAll();
      out.push(...(await new Promise((ok, fail) => { all.onsuccess = () => ok(all.result); all.onerror = () => fail(all.error); })));
    }
    db.close();
  }
  return out.map((m) => ({ content: m.content, status: m.status }));
}"""


async def wait_cached(page: Page, content: str, status: str = "complete", within_s: float = 20.0) -> None:
    """Wait until the browser's history cache holds a message with ``content`` in ``status``."""
    deadline = time.monotonic() + within_s
    held: list[dict] = []
    while time.monotonic() < deadline:
        held = await page.evaluate(_CACHED)
        if any(m["content"] == content and m["status"] == status for m in held):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the cache never held {content!r} ({status}); it holds {held[-4:]!r}")
