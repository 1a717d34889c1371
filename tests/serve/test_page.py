"""The page at ``/`` in a real headless Chromium (Debian's ``chromium`` package, driven by playwright).

Skipped, saying why, when playwright or a Chromium executable is missing. ``$INTERLINGUA_CHROMIUM`` names
the browser (default: ``chromium`` on PATH); ``$INTERLINGUA_SCREENSHOT`` a PNG path to keep the screenshot.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.serve.conftest import LiveServer

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
CHROMIUM = os.environ.get("INTERLINGUA_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def page():
    if not CHROMIUM:
        pytest.skip("no Chromium executable: apt-get install chromium, or set INTERLINGUA_CHROMIUM")
    with sync_api.sync_playwright() as p:
        try:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])  # root in CI: no sandbox
        except sync_api.Error as exc:
            pytest.skip(f"Chromium at {CHROMIUM} did not start: {str(exc).splitlines()[0]}")
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        yield page
        browser.close()


def test_search_and_alignment_in_the_browser(server: LiveServer, page, tmp_path: Path) -> None:
    page.goto(server.url + "/")
    page.wait_for_function("document.getElementById('model').textContent.includes('14 sentences')")
    assert page.locator("#lang option").all_inner_texts() == ["all languages", "deu (5)", "eng (5)", "fra (4)"]
    page.fill("#query", "der hund")
    page.press("#query", "Enter")
    rows = page.locator("#results tbody tr")
    rows.first.wait_for()
    assert rows.count() == 10
    assert rows.nth(0).locator("td.sentence").inner_text() == "der hund"
    assert rows.nth(0).locator("td.lang").inner_text() == "deu"
    assert rows.nth(0).locator("td.score").inner_text().strip() == "1.000"

    page.select_option("#lang", "fra")
    page.click("#search-btn")
    page.wait_for_function("[...document.querySelectorAll('#results td.lang')].every(td => td.textContent === 'fra')")
    assert rows.count() == 4

    rows.nth(0).locator("button").click()  # align the query with the best French sentence
    page.locator("#heatmap rect.cell").first.wait_for()
    src, tgt = page.input_value("#src"), page.input_value("#tgt")
    assert src == "der hund"
    assert page.locator("#heatmap rect.cell").count() == 2 * len(tgt.split())
    assert page.locator("#heatmap circle.link").count() >= 1  # argmax: the matrix's largest cell is always a link
    assert page.locator("#heatmap text.src-word").all_text_contents() == ["der", "hund"]

    page.fill("#src", "the cat sleeps")
    page.fill("#tgt", "the cat sleeps")
    page.click("#align-btn")
    page.wait_for_function("document.querySelectorAll('#heatmap rect.cell').length === 9")
    assert page.locator("#heatmap circle.link").count() == 3  # a sentence with itself: the diagonal
    assert "3 links" in page.inner_text("#status")

    page.fill("#query", "der hund")
    page.select_option("#lang", "")
    page.click("#search-btn")
    page.wait_for_function("document.querySelectorAll('#results td.lang').length === 10")
    page.screenshot(path=str(tmp_path / "serve-page.png"), full_page=True)
    if os.environ.get("INTERLINGUA_SCREENSHOT"):
        page.screenshot(path=os.environ["INTERLINGUA_SCREENSHOT"], full_page=True)
