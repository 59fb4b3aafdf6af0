"""The generated report in headless Chromium (Playwright, Debian's /usr/bin/chromium): figures render, the console
stays clean, the page asks for nothing but itself, and the planted ``<script>`` in the data never runs."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from browser._chromium import BROWSER_MARKS, CHROMIUM
from browser._chromium import CHROMIUM_ARGS as ARGS

pytestmark = BROWSER_MARKS


@contextlib.contextmanager
def offline_page(url: str, requests: list[str], console_errors: list[str]) -> Iterator[Any]:
    """A headless Chromium page that records every request and console error, and refuses every request but
    ``url`` itself (so a stray reference also shows up as an error)."""
    from playwright import sync_api

    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, timeout=60_000)
        try:
            page = browser.new_page()
            page.set_default_timeout(30_000)
            page.on("request", lambda r: requests.append(r.url))
            page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: console_errors.append(str(e)))
            page.route("**/*", lambda route: route.continue_() if route.request.url == url else route.abort())
            yield page
        finally:
            browser.close()


def test_report_renders_offline_without_running_data(tmp_path):
    pytest.importorskip("matplotlib")
    pytest.importorskip("playwright.sync_api")
    from test_report import make_runs

    from rrm_eval.cli import main

    runs = make_runs(tmp_path)
    out = tmp_path / "report.html"
    assert main(["report", str(runs["marker"]), str(runs["random"]), str(runs["tournament"]), "-o", str(out)]) == 0
    url = out.as_uri()

    requests: list[str] = []
    console_errors: list[str] = []
    dialogs: list[str] = []
    with offline_page(url, requests, console_errors) as page:
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(url, wait_until="load")
        svgs = page.locator("figure svg")
        assert svgs.count() >= 10
        box = svgs.first.bounding_box()
        assert box is not None and box["width"] > 100 and box["height"] > 20  # laid out, not an empty element
        assert page.locator("figure svg text").count() > 50  # axis labels are text, drawn by the browser
        # The planted script is shown as text and never executed.
        page.locator("details").first.evaluate("d => d.open = true")
        assert "<script>alert(1)</script>" in page.locator("details pre").first.inner_text()
        assert page.locator("script").count() == 0
        assert page.evaluate("() => typeof window.__planted") == "undefined"
        page.emulate_media(color_scheme="dark")
        dark = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
        page.emulate_media(color_scheme="light")
        light = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
        assert dark != light
        page.screenshot(path=str(tmp_path / "report.png"), full_page=False)
    assert requests == [url], f"requests other than the report itself: {requests}"
    assert not console_errors, console_errors
    assert not dialogs, f"a script in the data ran: {dialogs}"


def test_sweep_and_tournament_figures_render_offline(tmp_path):
    """A sweep, a --votes run and two tournaments of different schedules: their new figures are laid out SVG."""
    pytest.importorskip("matplotlib")
    pytest.importorskip("playwright.sync_api")
    from test_report_kinds import make_kind_runs

    from rrm_eval.cli import main

    made = make_kind_runs(tmp_path)
    out = tmp_path / "report.html"
    dirs = [made["sweep"], made["votes5"], made["rr"], made["ko"], made["bo1"]]
    assert main(["report", *map(str, dirs), "-o", str(out)]) == 0
    url = out.as_uri()
    requests: list[str] = []
    console_errors: list[str] = []
    with offline_page(url, requests, console_errors) as page:
        page.goto(url, wait_until="load")
        titles = (
            "Accuracy vs thinking budget",
            "Accuracy vs votes",
            "Candidate ratings",
            "Accuracy vs judge calls",
            "Subset scores",
        )
        for scheme in ("light", "dark"):
            page.emulate_media(color_scheme=scheme)
            for title in titles:
                fig = page.locator("figure", has=page.get_by_role("heading", name=title, exact=True)).first
                svg = fig.locator("svg").first
                box = svg.bounding_box()
                assert box is not None and box["width"] > 100 and box["height"] > 50, title
                assert svg.locator("text").count() > 5, title  # axis labels drawn as text
                assert len(fig.locator("figcaption").inner_text()) > 80, title
                # Text takes the page's colour, so it reads in both modes.
                fill = svg.locator("text").first.evaluate("t => getComputedStyle(t).fill")
                body = page.evaluate("() => getComputedStyle(document.body).color")
                assert fill == body, (title, scheme, fill, body)
        page.screenshot(path=str(tmp_path / "kinds.png"), full_page=True)
    assert requests == [url], f"requests other than the report itself: {requests}"
    assert not console_errors, console_errors
