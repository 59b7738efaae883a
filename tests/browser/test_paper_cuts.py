"""The paper cuts of issue 16 (defect 10): placeholder contrast, model names that fit the picker,
a Models count that says what it counts, and one word for a working connection on both screens."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from tests.browser.helpers import create_session, message_box, wait_live

pytestmark = pytest.mark.browser

CONTRAST = """el => {
  const rgb = c => c.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const lum = c => { const [r, g, b] = rgb(c).map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
                     return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  let bg = 'rgba(0, 0, 0, 0)';
  for (let e = el; e && /rgba\\(.*, 0\\)|transparent/.test(bg); e = e.parentElement) bg = getComputedStyle(e).backgroundColor;
  const fg = getComputedStyle(el, '::placeholder').color;
  const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
  return (a + 0.05) / (b + 0.05);
}"""

FITS = """select => {
  const text = select.options[select.selectedIndex].text;
  const style = getComputedStyle(select);
  const ctx = document.createElement('canvas').getContext('2d');
  ctx.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
  const room = select.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight) - 16;  // the arrow
  return {text, need: ctx.measureText(text).width, room};
}"""


async def test_paper_cuts(page, edge_url):
    for scheme in ("light", "dark"):
        await page.emulate_media(color_scheme=scheme)
        await page.goto(f"{edge_url}/#/")
        # The Models card says what its number counts.
        models = page.get_by_role("region", name="Models")
        await expect(models.locator(".card-head")).to_contain_text(re.compile(r"\d+ models?\b"))
        # A working connection reads "Online" here (waited for: it may still be connecting) ...
        await expect(page.locator(".conn-text")).to_have_text("Online")
        badge_home = (await page.locator(".conn-text").inner_text()).strip()

        chat = await create_session(edge_url, f"Cuts {scheme}")
        await page.goto(f"{edge_url}/#/chat/{chat['id']}")
        await wait_live(page)
        # The same word for a working connection on both screens.
        # ... and the same word on the chat screen (the badge's words settle after the phase does).
        await expect(page.locator(".conn-text")).to_have_text(badge_home)
        # Placeholder contrast of at least 4.5:1, in both themes.
        ratio = await message_box(page).evaluate(CONTRAST)
        assert ratio >= 4.5, (scheme, ratio)
        # The chosen model's name fits its picker (on phones it sits in the chat tools menu).
        picker = page.get_by_label("Provider and model for this chat")
        await expect(picker.locator("option[value*='|']").first).to_be_attached()  # the models arrived
        options = await picker.locator("option").evaluate_all("os => os.map(o => o.value).filter(v => v)")
        await picker.select_option(max(options, key=len))
        fit = await picker.evaluate(FITS)
        assert fit["need"] <= fit["room"], fit
