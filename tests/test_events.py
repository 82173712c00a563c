"""Events: modality, stories across sources, thresholds, keys, cooldown and the lifecycle."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from monitor.clock import FakeClock
from monitor.config import load_config
from monitor.digest import content_hash
from monitor.model import Article
from monitor.pipeline import IngestReport, Runtime, build_runtime, close_expired_events, ingest
from monitor.store import open_store

SOURCES = "".join(
    f"  - {{id: s{i}, kind: feed, url: 'http://127.0.0.1:9/{i}'}}\n" for i in range(1, 6)
)

WIRE = (
    "North Korea fired a ballistic missile over Japan early on Tuesday, the South Korean "
    "military said, the latest in a string of weapons tests that have raised tensions in the "
    "region. The missile flew about 1,000 km before falling into the Pacific Ocean, officials "
    "in Tokyo said. Japan's prime minister called the launch an outrageous act that posed an "
    "unprecedented threat. The United States condemned the test and said it remained committed "
    "to the defence of its allies. Analysts said the launch appeared designed to show that "
    "Pyongyang could strike the U.S. territory of Guam."
)


@pytest.fixture
def make(tmp_path: Path, clock: FakeClock) -> Iterator[list[Runtime]]:
    made: list[Runtime] = []
    yield made
    for rt in made:
        rt.close()
        rt.store.close()


def runtime(
    tmp_path: Path, clock: FakeClock, made: list[Runtime], rule: str, extra: str = ""
) -> Runtime:
    rules = tmp_path / "rules"
    rules.mkdir(exist_ok=True)
    (rules / "lists.yaml").write_text(
        "lists:\n  countries: [North Korea, Iran, Yemen]\n", encoding="utf-8"
    )
    (rules / "r.yaml").write_text(rule, encoding="utf-8")
    (tmp_path / "monitor.yaml").write_text(
        f"database: m.db\nrules: rules\nsources:\n{SOURCES}{extra}", encoding="utf-8"
    )
    config = load_config(tmp_path / "monitor.yaml", env={})
    rt = build_runtime(config, open_store(config.database), clock, console=io.StringIO())
    made.append(rt)
    return rt


def article(source: str, guid: str, text: str, title: str = "Report") -> Article:
    from datetime import UTC, datetime

    when = datetime(2026, 3, 1, tzinfo=UTC)
    return Article(source, guid, "", title, "", text, when, when, content_hash(guid, text))


def feed(rt: Runtime, *items: Article) -> IngestReport:
    with rt.store.transaction():
        return ingest(rt, list(items), rt.clock.now())


LAUNCH_RULE = """
name: Launch
match:
  all: [missile*, {any: [fired, launch*], trigger: true}]
  same_sentence: true
"""


def test_negated_and_hedged_sentences_do_not_open_an_event(
    tmp_path: Path, clock: FakeClock, make: list[Runtime]
) -> None:
    rt = runtime(tmp_path, clock, make, LAUNCH_RULE)
    report = feed(
        rt,
        article("s1", "a", "Pyongyang denied that it fired a missile on Monday."),
        article("s2", "b", "The North threatened to launch a missile at the base."),
        article("s3", "c", "Officials said a missile launch may take place next week."),
    )
    assert (report.matches, report.events_opened) == (3, 0)
    rows = rt.store.query("SELECT modality, modality_cue, reason FROM matches ORDER BY id")
    assert [(r["modality"], r["modality_cue"]) for r in rows] == [
        ("negated", "denied"),
        ("hedged", "threatened to"),
        ("hedged", "may"),
    ]
    assert rows[0]["reason"] == "modality negated ('denied') does not count"
    assert feed(rt, article("s4", "d", "The North fired a missile on Tuesday.")).events_opened == 1


def test_five_copies_of_one_story_are_one_event_with_five_sources(
    tmp_path: Path, clock: FakeClock, make: list[Runtime]
) -> None:
    rt = runtime(tmp_path, clock, make, LAUNCH_RULE)
    edits = [
        WIRE,
        WIRE.replace("early on Tuesday", "on Tuesday"),
        WIRE.replace("officials in Tokyo said", "according to Tokyo"),
        WIRE + " Markets in Seoul were little changed.",
        WIRE.replace("Analysts said", "Experts said"),
    ]
    reports = [
        feed(rt, article(f"s{i + 1}", f"wire-{i}", text, title="North Korea fires missile"))
        for i, text in enumerate(edits)
    ]
    assert [r.events_opened for r in reports] == [1, 0, 0, 0, 0]
    assert [r.alerts for r in reports] == [1, 0, 0, 0, 0]
    event = rt.store.one("SELECT * FROM events")
    assert event is not None
    assert (event["article_count"], event["source_count"], event["story_count"]) == (5, 5, 1)
    other = "Iran test-fired a new cruise missile from a submarine in the Gulf of Oman on Friday."
    feed(rt, article("s1", "other", other, title="Iran tests missile"))
    event = rt.store.one("SELECT story_count FROM events")
    assert event == {"story_count": 2}


def test_min_sources_waits_for_corroboration(
    tmp_path: Path, clock: FakeClock, make: list[Runtime]
) -> None:
    rt = runtime(tmp_path, clock, make, LAUNCH_RULE + "min_sources: 2\nwindow: 6h\n")
    first = feed(rt, article("s1", "a", "A missile was fired into the sea."))
    assert first.events_opened == 0
    assert rt.store.scalar("SELECT reason FROM matches") == (
        "waiting for 2 sources within 6:00:00 (have 1)"
    )
    same = feed(rt, article("s1", "b", "Another missile was fired, the same outlet said."))
    assert same.events_opened == 0
    clock.advance(timedelta(hours=1))
    second = feed(rt, article("s2", "c", "A missile was fired, a second outlet confirmed."))
    assert second.events_opened == 1
    assert rt.store.one("SELECT article_count, source_count FROM events") == {
        "article_count": 3,
        "source_count": 2,
    }
    # Matches older than the window no longer count towards a new Event.
    rt2_dir = tmp_path / "late"
    rt2_dir.mkdir()
    late = runtime(rt2_dir, clock, make, LAUNCH_RULE + "min_sources: 2\nwindow: 1h\n")
    feed(late, article("s1", "a", "A missile was fired."))
    clock.advance(timedelta(hours=2))
    assert feed(late, article("s2", "b", "A missile was fired.")).events_opened == 0


def test_frequency_needs_enough_matches_in_time(
    tmp_path: Path, clock: FakeClock, make: list[Runtime]
) -> None:
    rt = runtime(tmp_path, clock, make, LAUNCH_RULE + "frequency: {count: 3, within: 1h}\n")
    opened = []
    for i in range(3):
        opened.append(feed(rt, article("s1", f"g{i}", "A missile was fired.")).events_opened)
        clock.advance(timedelta(minutes=10))
    assert opened == [0, 0, 1]


def test_group_by_list_term_opens_an_event_per_country(
    tmp_path: Path, clock: FakeClock, make: list[Runtime]
) -> None:
    rule = LAUNCH_RULE.replace("all: [missile*,", "all: ['@countries', missile*,")
    rt = runtime(tmp_path, clock, make, rule + "group_by: '@countries'\n")
    feed(
        rt,
        article("s1", "a", "North Korea fired a missile."),
        article("s2", "b", "Iran fired a missile."),
        article("s3", "c", "North Korea fired another missile."),
    )
    keys = rt.store.query("SELECT key, article_count FROM events ORDER BY id")
    assert keys == [
        {"key": "North Korea", "article_count": 2},
        {"key": "Iran", "article_count": 1},
    ]


def test_lifecycle_update_throttle_close_and_cooldown(
    tmp_path: Path, clock: FakeClock, make: list[Runtime]
) -> None:
    rule = LAUNCH_RULE + (
        "window: 2h\nnotify_on: [open, update, close]\nupdate_every: 30m\ncooldown: 3h\n"
    )
    rt = runtime(tmp_path, clock, make, rule)
    feed(rt, article("s1", "a", "A missile was fired."))
    clock.advance(timedelta(minutes=5))
    feed(rt, article("s2", "b", "A missile was fired, say two."))  # throttled: too soon
    clock.advance(timedelta(minutes=30))
    feed(rt, article("s3", "c", "A missile was fired, say three."))
    clock.advance(timedelta(minutes=5))
    feed(rt, article("s3", "d", "A missile was fired, same source again."))  # nothing new
    kinds = [r["kind"] for r in rt.store.query("SELECT kind FROM alerts ORDER BY id")]
    assert kinds == ["open", "update-1"]
    body = rt.store.scalar("SELECT body FROM alerts WHERE kind = 'update-1'")
    assert body.startswith("Update: 2 more sources")
    clock.advance(timedelta(hours=3))
    close_expired_events(rt)
    kinds = [r["kind"] for r in rt.store.query("SELECT kind FROM alerts ORDER BY id")]
    assert kinds == ["open", "update-1", "close"]
    assert "Closed after 2h quiet." in rt.store.scalar("SELECT body FROM alerts WHERE kind='close'")
    clock.advance(timedelta(hours=1))
    report = feed(rt, article("s4", "e", "A missile was fired again."))
    assert report.events_opened == 0
    assert "cooldown after event #1" in rt.store.scalar("SELECT reason FROM matches WHERE id = 5")
    clock.advance(timedelta(hours=3))
    assert feed(rt, article("s5", "f", "A missile was fired once more.")).events_opened == 1


def test_spike_and_flatline(tmp_path: Path, clock: FakeClock, make: list[Runtime]) -> None:
    spike = LAUNCH_RULE + "spike: {factor: 3, within: 1h, baseline: 1d, min_count: 3}\n"
    rt = runtime(tmp_path, clock, make, spike)
    opened = []
    for i in range(4):
        opened.append(feed(rt, article("s1", f"g{i}", f"A missile was fired ({i}).")).events_opened)
    assert opened == [0, 0, 1, 0]
    flat_dir = tmp_path / "flat"
    flat_dir.mkdir()
    flat = runtime(flat_dir, clock, make, LAUNCH_RULE + "flatline: 6h\n")
    clock.advance(timedelta(hours=5))
    close_expired_events(flat)
    assert flat.store.scalar("SELECT count(*) FROM events") == 0
    clock.advance(timedelta(hours=2))
    close_expired_events(flat)
    close_expired_events(flat)
    assert flat.store.query("SELECT key, state FROM events") == [
        {"key": "flatline", "state": "open"}
    ]
    assert flat.store.scalar("SELECT title FROM alerts").startswith("[warning] Flatline: Launch")
    feed(flat, article("s1", "x", "A missile was fired."))
    states = flat.store.query("SELECT key, state FROM events ORDER BY id")
    assert states == [{"key": "flatline", "state": "closed"}, {"key": "", "state": "open"}]


def test_event_counts_equal_a_recount_of_its_matches(
    tmp_path: Path, clock: FakeClock, make: list[Runtime]
) -> None:
    # Counts are kept as matches join; they must equal counting the Event's matches afresh.
    rt = runtime(tmp_path, clock, make, LAUNCH_RULE)
    texts = [WIRE, WIRE + " Markets were calm.", "Iran test-fired a cruise missile on Friday."]
    for n in range(12):
        source = f"s{n % 4 + 1}"
        feed(rt, article(source, f"g{n}", texts[n % 3] + f" Update {n}.", title="Missile fired"))
    recount = rt.store.one(
        "SELECT count(*) AS articles, count(DISTINCT a.source_id) AS sources,"
        " count(DISTINCT coalesce(a.story_id, a.id)) AS stories"
        " FROM matches m JOIN articles a ON a.id = m.article_id WHERE m.event_id = 1"
    )
    event = rt.store.one("SELECT article_count, source_count, story_count FROM events")
    assert recount is not None and event is not None
    assert recount["articles"] == 12
    assert tuple(event.values()) == tuple(recount.values())
