"""The ``sources`` command: health listing, add, OPML import and export."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

from pytest_httpserver import HTTPServer

from monitor.cli import main
from monitor.clock import FakeClock
from tests.conftest import DATA, ROOT
from tests.feedkit import rss


def run(config: Path, clock: FakeClock, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["--config", str(config), *args], clock=clock, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def setup_project(tmp_path: Path) -> Path:
    for name in ("config", "rules", "seeds"):
        shutil.copytree(ROOT / name, tmp_path / name)
    return tmp_path / "config" / "monitor.yaml"


def test_add_poll_and_list_health(tmp_path: Path, clock: FakeClock, httpserver: HTTPServer) -> None:
    config = setup_project(tmp_path)
    original = config.read_text(encoding="utf-8")
    httpserver.expect_request("/ok.xml").respond_with_data(rss([("a", "Alpha", "text")]))
    httpserver.expect_request("/bad.xml").respond_with_data("no", status=404)
    code, out, err = run(config, clock, "sources", "add", httpserver.url_for("/ok.xml"))
    assert code == 0, err
    assert out.startswith("added source '")
    code, _, err = run(
        config,
        clock,
        "sources",
        "add",
        httpserver.url_for("/bad.xml"),
        "--id",
        "bad",
        "--every",
        "5m",
    )
    assert code == 0, err
    text = config.read_text(encoding="utf-8")
    for line in original.splitlines():
        assert line in text  # every comment and setting is kept
    code, _, err = run(config, clock, "sources", "add", httpserver.url_for("/ok.xml"))
    assert code == 1
    assert "already" in err
    assert run(config, clock, "run", "--once")[0] == 0
    code, listing, _ = run(config, clock, "sources")
    assert code == 0
    assert "seeds [seeds, every 30s] ok" in listing
    assert "bad [feed, every 5m] failing (1 in a row)" in listing
    assert "last error: HTTP 404 Not Found" in listing
    assert "last HTTP status: 404" in listing
    assert "items seen: 1" in listing


def test_import_and_export_round_trip(tmp_path: Path, clock: FakeClock) -> None:
    config = setup_project(tmp_path)
    code, out, err = run(
        config, clock, "sources", "import", str(DATA / "opml" / "subscriptions.opml")
    )
    assert code == 0, err
    assert "imported " in out and "skipped javascript:" in out
    code, opml, _ = run(config, clock, "sources", "export")
    assert code == 0
    assert opml.count('type="rss"') == int(out.split("imported ")[1].split(" ")[0])
    other = setup_project(tmp_path / "second")
    (tmp_path / "export.opml").write_text(opml, encoding="utf-8")
    code, again, _ = run(other, clock, "sources", "import", str(tmp_path / "export.opml"))
    assert code == 0
    assert again.split(" source(s)")[0] == out.strip().splitlines()[-1].split(" source(s)")[0]
