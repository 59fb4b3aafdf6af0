"""`rrm-eval serve` in headless Chromium: run list, record filter, record view, playground; nothing leaves the host."""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from browser._chromium import BROWSER_MARKS, CHROMIUM, CHROMIUM_ARGS

pytestmark = BROWSER_MARKS
pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")
sync_api = pytest.importorskip("playwright.sync_api")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from test_app import make_runs, snapshot  # noqa: E402

from rrm_eval.app import Playground, create_app  # noqa: E402
from rrm_eval.models import load_model  # noqa: E402

TIMEOUT_MS = 15_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture()
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    runs = make_runs(tmp_path)
    app = create_app(runs, Playground(load_model("scripted:marker"), "rrm", "scripted:marker"), ["127.0.0.1"])
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the app did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", runs
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_app_in_headless_chromium(served, tmp_path):
    base, runs = served
    before = snapshot(runs)
    errors: list[str] = []
    foreign: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            host = urlparse(base).netloc
            page.on("request", lambda r: foreign.append(r.url) if urlparse(r.url).netloc != host else None)
            page.goto(base + "/")
            # The run list: every folder, the bad ones marked unreadable with their reason.
            page.wait_for_selector("#runs-table tbody tr.unreadable")
            assert page.locator("#runs-table tbody tr").count() == 6
            assert "no spec.json" in page.locator("#runs-table tbody tr[data-run='not-a-run']").inner_text()
            rrm_run = page.locator("#runs-table tbody tr", has_text="scripted:marker").filter(has_text="rrm")
            rrm_run.first.locator("a.run-link").click()
            page.wait_for_selector("#records-table tbody tr")
            assert "60 of 60" in page.locator("#records-count").inner_text()
            assert page.locator("#figures img").count() >= 1  # the report's figures, as images
            # The page's policy forbids eval, so waits poll from here (expect) rather than in-page predicates.
            expect = sync_api.expect
            for img in page.locator("#figures img").all():
                expect(img).to_have_js_property("complete", True)
                assert img.evaluate("i => i.naturalWidth") > 0
            # Filter the table: the wrong verdicts of one subset.
            page.select_option("#filter-correct", "wrong")
            page.select_option("#filter-subset", "math-prm")
            page.click("#filter-apply")
            expect(page.locator("#records-count")).to_have_text("10 of 60 records match")
            cells = page.locator("#records-table tbody tr td:nth-child(6)").all_inner_texts()
            assert cells and set(cells) == {"wrong"}
            # Open a record: thinking folded, the parsed span shown, the planted script shown as text.
            page.locator("#records-table tbody tr").first.click()
            page.wait_for_selector("#record-view details.thinking")
            assert page.locator("#record-view details.thinking").get_attribute("open") is None
            view = page.locator("#record-view").inner_text()
            assert "Assistant 1" in view and "bound to (extracted span)" in view
            assert "<script>window.__pwned=1</script>" in page.locator("#record-view pre.prompt").inner_text()
            # The playground with the scripted model, both orders.
            page.click("#tab-playground")
            page.fill("#pg-question", "Which answer is right? <b>bold?</b>")
            page.fill("#pg-a", "a poor answer <script>window.__pwned=2</script>")
            page.fill("#pg-b", "the GOOD answer")
            page.select_option("#pg-order", "both")
            page.click("#pg-run")
            expect(page.locator("#pg-status")).to_have_text("done")
            for order in ("AB", "BA"):
                verdict = page.locator(f"#pg-out-{order} .verdict")
                assert verdict.get_attribute("data-prefers") == "B", verdict.inner_text()
                assert "\\boxed{Assistant" in page.locator(f"#pg-out-{order} pre.stream").inner_text()
            assert page.evaluate("window.__pwned === undefined")
            page.screenshot(path=str(tmp_path / "app.png"))
        finally:
            browser.close()
    assert errors == [], errors
    assert foreign == [], foreign
    assert snapshot(runs) == before
