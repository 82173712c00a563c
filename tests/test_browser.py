"""The dashboard in a real headless Chromium: pages, navigation, search, no script from feeds."""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from monitor.clock import FakeClock
from monitor.config import load_config
from monitor.pipeline import build_runtime, run_once
from monitor.store import open_store
from monitor.web import StaticProbe, WebServer
from tests.conftest import ROOT
from tests.feedkit import rss

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium on this machine (Debian package 'chromium')"
)

EVIL = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'


@pytest.fixture
def dashboard(tmp_path: Path, clock: FakeClock, httpserver: HTTPServer) -> Iterator[str]:
    items = [
        ("a1", f"Missile launched {EVIL}", "North Korea launched a ballistic missile today."),
        ("a2", "Council votes", "The Security Council voted to adopt new sanctions on Iran."),
    ]
    httpserver.expect_request("/feed.xml").respond_with_data(
        rss(items).replace(
            b"<link>http://127.0.0.1/a/a1</link>", b"<link>javascript:alert(1)</link>"
        )
    )
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    (tmp_path / "monitor.yaml").write_text(
        "database: m.db\nrules: rules\nsources:\n"
        f"  - {{id: wire, kind: feed, url: '{httpserver.url_for('/feed.xml')}'}}\n",
        encoding="utf-8",
    )
    config = load_config(tmp_path / "monitor.yaml", env={})
    rt = build_runtime(config, open_store(config.database), clock, console=io.StringIO())
    run_once(rt)
    rt.close()
    rt.store.close()
    web = WebServer(
        config.database, "127.0.0.1:0", None, clock=clock, health=StaticProbe(alive=True)
    )
    web.start()
    try:
        yield web.url
    finally:
        web.stop()


def test_pages_navigation_search_and_no_feed_script(dashboard: str, tmp_path: Path) -> None:
    args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"]
    args += ["--disable-background-networking", "--disable-component-update", "--disable-sync"]
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=args)
        try:
            page = browser.new_page()
            dialogs: list[str] = []
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(dashboard + "/")
            assert page.locator("svg").count() >= 1  # the timeline
            assert page.get_by_text("missile-launch").count() >= 1
            page.screenshot(path=str(tmp_path / "events.png"), full_page=True)
            with page.expect_navigation():
                page.locator("a[href^='/events/']").first.click()
            assert "/events/" in page.url
            assert page.locator("mark").count() >= 1  # matched words highlighted
            assert page.locator("a[href^='javascript:']").count() == 0
            page.screenshot(path=str(tmp_path / "event.png"), full_page=True)
            page.goto(dashboard + "/articles")
            page.fill("input[name=q]", "sanctions")
            with page.expect_navigation():
                page.keyboard.press("Enter")
            assert "Council votes" in page.content()
            for path in ("/sources", "/alerts"):
                response = page.goto(dashboard + path)
                assert response is not None and response.status == 200
            assert page.evaluate("() => window.__pwned") is None
            assert dialogs == []
        finally:
            browser.close()
    assert (tmp_path / "events.png").stat().st_size > 1000
    assert (tmp_path / "event.png").stat().st_size > 1000
