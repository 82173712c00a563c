"""Adding sources to the config file without losing a comment, and OPML export/import."""

from __future__ import annotations

import difflib
import os
import shutil
import stat
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

from monitor.config import SourceSpec, load_config
from monitor.errors import MonitorError
from monitor.sources.manage import (
    ImportReport,
    add_source,
    canonical_url,
    derive_id,
    export_opml,
    import_opml,
)
from tests.conftest import DATA, ROOT

SHIPPED = ROOT / "config" / "monitor.yaml"
OPML = DATA / "opml" / "subscriptions.opml"
SEEDS_ONLY = "sources:\n  - id: seeds\n    kind: seeds\n    path: ../seeds\n"


def shipped_copy(tmp_path: Path) -> Path:
    path = tmp_path / "monitor.yaml"
    shutil.copyfile(SHIPPED, path)
    return path


def write(tmp_path: Path, text: str, name: str = "monitor.yaml") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def inserted_lines(before: str, after: str) -> list[tuple[int, list[str]]]:
    """Return (position, lines) of each insertion; fail on any other kind of change."""
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    out = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new).get_opcodes():
        assert tag in ("equal", "insert"), (tag, old[i1:i2], new[j1:j2])
        if tag == "insert":
            out.append((i1, new[j1:j2]))
    return out


# --- add_source -----------------------------------------------------------------------------


def test_add_to_shipped_config_only_inserts_lines_and_keeps_every_comment(tmp_path: Path) -> None:
    path = shipped_copy(tmp_path)
    before = path.read_text()
    new_id = add_source(
        path, "https://feeds.example.com/world/rss.xml", every="15m", publisher="Example: News"
    )
    second = add_source(path, "http://news.example.org/feed/")
    after = path.read_text()

    assert (new_id, second) == ("example-com-world", "news-example-org")
    old_lines = before.splitlines()
    anchor = old_lines.index("  #   publisher: Example News") + 1
    assert inserted_lines(before, after) == [
        (
            anchor,
            [
                "  - id: example-com-world\n",
                "    kind: feed\n",
                "    url: https://feeds.example.com/world/rss.xml\n",
                "    every: 15m\n",
                "    publisher: 'Example: News'\n",
                "  - id: news-example-org\n",
                "    kind: feed\n",
                "    url: http://news.example.org/feed/\n",
            ],
        )
    ]
    # The items land in the list: after its commented-out examples, before the blank line
    # and the "# Channels" comment that belongs to the next key.
    assert old_lines[anchor] == ""
    assert old_lines[anchor + 1].startswith("# Channels are named lists")
    new_lines = after.splitlines()
    for line in old_lines:
        if line.lstrip().startswith("#"):
            assert new_lines.count(line) == old_lines.count(line), line

    config = load_config(path, env={})
    by_id = {s.id: s for s in config.spec.sources}
    assert list(by_id) == ["seeds", "example-com-world", "news-example-org"]
    assert by_id["example-com-world"].url == "https://feeds.example.com/world/rss.xml"
    assert by_id["example-com-world"].every == timedelta(minutes=15)
    assert by_id["example-com-world"].publisher == "Example: News"
    assert by_id["news-example-org"].every == timedelta(minutes=10)
    assert config.spec.channels == {}


def test_add_keeps_file_mode_and_leaves_no_temp_file(tmp_path: Path) -> None:
    path = shipped_copy(tmp_path)
    os.chmod(path, 0o640)
    add_source(path, "https://example.com/rss")
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["monitor.yaml"]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://feeds.example.com/world/rss.xml", "example-com-world"),
        ("https://www.bbc.co.uk/news/world/rss.xml", "bbc-co-uk-news-world"),
        ("http://example.com/", "example-com"),
        ("https://example.com/feed/", "example-com"),
        ("https://Example.COM/Top%20Stories/atom.xml", "example-com-top-stories"),
        (
            "https://rss.nytimes.com/services/xml/rss/nyt/World.xml",
            "nytimes-com-services-nyt-world",
        ),
        ("https://example.com:8443/index.php?cat=world", "example-com"),
        (
            "https://zeitung.example.de/nachrichten/wirtschaft-ümlaut",
            "zeitung-example-de-nachrichten-wirtschaft-umlaut",
        ),
        ("https://example.com/v1.2/news_feed", "example-com-v1.2-news_feed"),
        ("https://bücher.example/rss", "bucher-example"),
        ("https://пример.рф/news", "xn-e1afmkfd-xn-p1ai-news"),
        ("https://example.com/" + "a" * 100, "example-com-" + "a" * 52),
    ],
)
def test_id_is_derived_from_host_and_path(url: str, expected: str) -> None:
    derived = derive_id(url)
    assert derived == expected
    SourceSpec.model_validate({"id": derived, "kind": "feed", "url": url})


def test_derived_id_is_made_unique_with_a_counter() -> None:
    assert derive_id("https://example.com/world/rss.xml", {"example-com-world"}) == (
        "example-com-world-2"
    )
    taken = {"example-com-world", "example-com-world-2"}
    assert derive_id("https://example.com/world/", taken) == "example-com-world-3"
    long_url = "https://example.com/" + "b" * 100
    long_id = derive_id(long_url)
    assert len(long_id) == 64
    suffixed = derive_id(long_url, {long_id})
    assert len(suffixed) == 64 and suffixed.endswith("-2")


def test_add_suffixes_an_id_already_in_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, SEEDS_ONLY)
    assert add_source(path, "https://example.com/world/rss.xml") == "example-com-world"
    assert add_source(path, "https://example.com/world/atom.xml") == "example-com-world-2"
    assert add_source(path, "https://example.com/x", source_id="desk") == "desk"
    ids = [s.id for s in load_config(path, env={}).spec.sources]
    assert ids == ["seeds", "example-com-world", "example-com-world-2", "desk"]


@pytest.mark.parametrize(
    "url",
    [
        "https://feeds.example.com/world/rss.xml",
        "HTTPS://FEEDS.EXAMPLE.COM/world/rss.xml",
        "https://feeds.example.com/world/rss.xml/",
        "https://feeds.example.com:443/world/rss.xml#top",
    ],
)
def test_duplicate_url_is_refused_and_the_file_untouched(tmp_path: Path, url: str) -> None:
    path = write(tmp_path, SEEDS_ONLY)
    add_source(path, "https://feeds.example.com/world/rss.xml")
    before = path.read_bytes()
    with pytest.raises(MonitorError, match="already in the config as source 'example-com-world'"):
        add_source(path, url)
    assert path.read_bytes() == before


def test_canonical_url_keeps_path_case_and_query() -> None:
    assert canonical_url("HTTP://Example.com:80/A/b/?q=1#frag") == "http://example.com/A/b?q=1"
    assert canonical_url("https://example.com/A") != canonical_url("https://example.com/a")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("javascript:alert(1)", "scheme 'javascript' not allowed"),
        ("ftp://example.com/rss.xml", "scheme 'ftp' not allowed"),
        ("file:///etc/passwd", "scheme 'file' not allowed"),
        ("example.com/rss.xml", "not an absolute URL"),
        ("https:///rss.xml", "no host"),
        ("https://example.com/a b", "spaces"),
    ],
)
def test_bad_url_is_refused(tmp_path: Path, url: str, message: str) -> None:
    path = write(tmp_path, SEEDS_ONLY)
    with pytest.raises(MonitorError, match=message):
        add_source(path, url)
    assert path.read_text() == SEEDS_ONLY


@pytest.mark.parametrize(("every", "message"), [("soon", "invalid every"), ("0s", "at least 1s")])
def test_bad_every_is_refused(tmp_path: Path, every: str, message: str) -> None:
    path = write(tmp_path, SEEDS_ONLY)
    with pytest.raises(MonitorError, match=message):
        add_source(path, "https://example.com/rss", every=every)
    assert path.read_text() == SEEDS_ONLY


@pytest.mark.parametrize(
    ("source_id", "message"), [("Bad Id!", "invalid source id"), ("seeds", "already used")]
)
def test_bad_or_taken_explicit_id_is_refused(tmp_path: Path, source_id: str, message: str) -> None:
    path = write(tmp_path, SEEDS_ONLY)
    with pytest.raises(MonitorError, match=message):
        add_source(path, "https://example.com/rss", source_id=source_id)


def test_flow_style_empty_list_becomes_a_block_list(tmp_path: Path) -> None:
    text = "database: x.db\nsources: []   # none yet\n\n# Channels\nchannels: {}\n"
    path = write(tmp_path, text)
    add_source(path, "https://example.com/news/rss.xml", every="5m")
    assert path.read_text() == (
        "database: x.db\n"
        "sources:   # none yet\n"
        "  - id: example-com-news\n"
        "    kind: feed\n"
        "    url: https://example.com/news/rss.xml\n"
        "    every: 5m\n"
        "\n# Channels\nchannels: {}\n"
    )
    assert [s.id for s in load_config(path, env={}).spec.sources] == ["example-com-news"]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("# only a comment\ndatabase: x.db\n# trailing", id="missing"),
        pytest.param("", id="empty-file"),
        pytest.param("sources: ~\nchannels: {}\n", id="null"),
        pytest.param("sources:   # later\n  # nothing yet\n\nchannels: {}\n", id="bare-key"),
        pytest.param(
            "sources: [{id: a, kind: feed, url: 'https://a.example/x'},\n"
            "  {id: b, kind: seeds, path: s}]  # eol\nchannels: {}\n",
            id="flow-items",
        ),
        pytest.param(
            "sources:\n- id: a\n  kind: seeds\n  path: s\n# - id: x\n\n# next\n", id="col0"
        ),
        pytest.param(
            "sources:\n  -   id: a\n      kind: seeds\n      path: s # eol\n"
            "channels:\n    hook:\n        urls:\n        - json://127.0.0.1/\n",
            id="wide-indent",
        ),
    ],
)
def test_other_layouts_get_a_loadable_list(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    add_source(path, "https://example.com/rss.xml", publisher="Yes")
    after = path.read_text()
    config = load_config(path, env={})
    added = config.spec.sources[-1]
    assert (added.id, added.url, added.publisher) == (
        "example-com",
        "https://example.com/rss.xml",
        "Yes",
    )
    # Every other line is still there, in order; comments included.
    kept = iter(after.splitlines())
    for line in text.splitlines():
        if not line.startswith(("sources:", "  {id:")):  # the only lines rewritten
            assert line in kept, line


def test_crlf_line_endings_and_bom_are_kept(tmp_path: Path) -> None:
    text = "\ufeff# cfg\r\nsources:\r\n  - id: a\r\n    kind: seeds\r\n    path: s\r\n"
    path = write(tmp_path, text)
    add_source(path, "https://example.com/rss")
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf# cfg\r\n")
    assert raw.count(b"\n") == raw.count(b"\r\n") == 8
    assert [s.id for s in load_config(path, env={}).spec.sources] == ["a", "example-com"]


def test_missing_or_broken_config_is_a_monitor_error(tmp_path: Path) -> None:
    with pytest.raises(MonitorError, match="config file not found"):
        add_source(tmp_path / "nope.yaml", "https://example.com/rss")
    path = write(tmp_path, "sources: [\n")
    with pytest.raises(MonitorError, match="YAML syntax error"):
        add_source(path, "https://example.com/rss")
    path = write(tmp_path, "sources: {a: 1}\n")
    with pytest.raises(MonitorError, match="'sources' must be a list"):
        add_source(path, "https://example.com/rss")


# --- OPML -----------------------------------------------------------------------------------


def feed(source_id: str, url: str, publisher: str = "") -> SourceSpec:
    return SourceSpec(id=source_id, kind="feed", url=url, publisher=publisher)


def test_export_escapes_titles_and_skips_seeds() -> None:
    tricky = "Tom & Jerry <News> \"quoted\" 'single'"
    sources = [
        SourceSpec(id="seeds", kind="seeds", path="../seeds"),
        feed("tj", "https://example.com/rss?a=1&b=2", tricky),
        feed("plain", "https://example.org/feed"),
    ]
    when = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    text = export_opml(sources, title="Desk & co", now=when)

    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<opml version="2.0">')
    assert "Tom &amp; Jerry &lt;News&gt; &quot;quoted&quot;" in text
    assert "https://example.com/rss?a=1&amp;b=2" in text
    root = ET.fromstring(text.encode())
    assert root.findtext("head/title") == "Desk & co"
    assert parsedate_to_datetime(root.findtext("head/dateCreated") or "") == when
    outlines = [o.attrib for o in root.iter("outline")]
    assert outlines == [
        {
            "type": "rss",
            "text": tricky,
            "title": tricky,
            "xmlUrl": "https://example.com/rss?a=1&b=2",
        },
        {"type": "rss", "text": "plain", "title": "plain", "xmlUrl": "https://example.org/feed"},
    ]


def test_import_nested_opml_adds_feeds_and_explains_skips(tmp_path: Path) -> None:
    path = write(tmp_path, SEEDS_ONLY)
    report = import_opml(path, OPML.read_bytes(), every="20m")

    assert isinstance(report, ImportReport)
    assert len(report.added) == 14
    assert report.skipped == [
        (
            "javascript:alert(document.cookie)",
            "scheme 'javascript' not allowed (allowed: http, https)",
        ),
        ("", "outline 'Science blog without a feed' has no xmlUrl"),
        (
            "HTTPS://FEEDS.BBCI.CO.UK/news/world/rss.xml/",
            "listed more than once (added as 'bbci-co-uk-news-world')",
        ),
    ]
    config = load_config(path, env={})
    by_id = {s.id: s for s in config.spec.sources}
    assert list(by_id) == ["seeds", *report.added]
    assert by_id["politico-eu"].url == "https://www.politico.eu/feed/"  # lower-case xmlurl
    assert by_id["bbci-co-uk-news-world"].publisher == "BBC News - World"  # title wins
    assert by_id["aljazeera-com-all"].publisher == "Al Jazeera"  # text when no title
    assert by_id["dw-com-rss-en-eu"].publisher == "DW – Europe"
    cnbc = by_id["search-cnbc-com-rs-search-combinedcms-view"]
    assert (
        cnbc.url
        == "https://search.cnbc.com/rs/search/combinedcms/view.xml?partnerId=wrss01&id=100003114"
    )
    assert cnbc.publisher == "CNBC Top News & Analysis"
    assert {s.every for s in config.spec.sources if s.kind == "feed"} == {timedelta(minutes=20)}


def test_import_skips_urls_already_in_the_config_and_keeps_comments(tmp_path: Path) -> None:
    path = shipped_copy(tmp_path)
    add_source(path, "https://news.un.org/feed/subscribe/en/news/all/rss.xml", source_id="un")
    before = path.read_text()
    report = import_opml(path, OPML.read_bytes())
    assert (
        "https://news.un.org/feed/subscribe/en/news/all/rss.xml",
        ("already in the config as source 'un'"),
    ) in report.skipped
    assert len(report.added) == 13
    inserts = inserted_lines(before, path.read_text())
    assert len(inserts) == 1 and len(inserts[0][1]) == 13 * 4
    assert len(load_config(path, env={}).spec.sources) == 15


def test_import_with_nothing_new_does_not_write(tmp_path: Path) -> None:
    path = write(tmp_path, SEEDS_ONLY)
    import_opml(path, OPML.read_bytes())
    stamp = path.stat().st_mtime_ns, path.stat().st_ino
    report = import_opml(path, OPML.read_bytes())
    assert report.added == [] and len(report.skipped) == 17
    assert (path.stat().st_mtime_ns, path.stat().st_ino) == stamp


def test_export_then_import_round_trips_the_urls(tmp_path: Path) -> None:
    sources = [
        feed("a", "https://example.com/a.xml", "A & B"),
        feed("b", "http://example.org/feed?x=1&y=<2>"),
        feed("c", "https://news.example.net/world/", 'Say "hi"'),
        SourceSpec(id="seeds", kind="seeds", path="s"),
    ]
    path = write(tmp_path, "")
    report = import_opml(path, export_opml(sources).encode("utf-8"))
    assert report.skipped == []
    imported = load_config(path, env={}).spec.sources
    assert [s.url for s in imported] == [s.url for s in sources if s.kind == "feed"]
    assert [s.publisher for s in imported] == ["A & B", "b", 'Say "hi"']


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE opml [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
]>
<opml version="2.0"><body><outline text="&lol2;" xmlUrl="https://example.com/rss"/></body></opml>
"""


def test_opml_declaring_entities_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, SEEDS_ONLY)
    with pytest.raises(MonitorError, match="OPML must not declare entities"):
        import_opml(path, BOMB)
    # The same document in UTF-16 hides the markers from a byte search; expat still sees them.
    with pytest.raises(MonitorError, match="OPML must not declare entities"):
        import_opml(
            path, BOMB.decode().replace('"1.0"?>', '"1.0" encoding="UTF-16"?>').encode("utf-16")
        )
    assert path.read_text() == SEEDS_ONLY


def test_malformed_opml_names_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, SEEDS_ONLY)
    broken = (
        b'<?xml version="1.0"?>\n<opml version="2.0">\n<body>\n  <outline text="a" >\n</body>\n'
    )
    with pytest.raises(MonitorError, match=r"malformed OPML at line 5, column 3: mismatched tag"):
        import_opml(path, broken)
    with pytest.raises(MonitorError, match=r"not an OPML document \(the root element is <rss>\)"):
        import_opml(path, b"<rss><channel/></rss>")
    with pytest.raises(MonitorError, match="invalid every"):
        import_opml(path, OPML.read_bytes(), every="often")
    assert path.read_text() == SEEDS_ONLY
