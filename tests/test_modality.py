"""Modality of a trigger: asserted, negated, hedged or planned, and the cue that decided it."""

from __future__ import annotations

import pytest

from monitor.rules.modality import Modality, ModalityResult, classify, classify_in_text

A = Modality.ASSERTED
N = Modality.NEGATED
H = Modality.HEDGED
P = Modality.PLANNED
PAST = Modality.PAST


def marked(sentence: str) -> tuple[str, int, int]:
    """Strip the brackets around the trigger and return the text with the trigger's span."""
    start = sentence.index("[")
    end = sentence.index("]") - 1
    return sentence.replace("[", "", 1).replace("]", "", 1), start, end


def run(sentence: str) -> ModalityResult:
    text, start, end = marked(sentence)
    return classify(text, start, end)


# (id, sentence with [trigger], modality, cue)
CASES: list[tuple[str, str, Modality, str]] = [
    # Plain assertions, including cue words that do not reach the trigger.
    ("plain", "North Korea [fired] a ballistic missile on Thursday.", A, ""),
    ("plain-noun", "The [launch] came as allied forces began drills.", A, ""),
    ("reported", "South Korea's military said the North [fired] two missiles.", A, ""),
    ("no-one-when", "No one was hurt when the missile was [launched].", A, ""),
    ("no-one-subject", "No one was hurt as missiles [struck] Kyiv.", A, ""),
    ("no-comment", "There was no immediate comment on the [launch].", A, ""),
    ("did-not-comment", "Officials did not comment on the [launch].", A, ""),
    ("no-preposition", "There were no reports of damage from the [missile] strike.", A, ""),
    ("although-failed", "Although talks failed, the North [fired] a missile.", A, ""),
    (
        "although-failed-to",
        "Although talks failed to end the crisis, the North [fired] a missile.",
        A,
        "",
    ),
    ("although-denied", "Although Pyongyang denied it, the North [fired] a missile.", A, ""),
    (
        "denial-but",
        "Pyongyang denied the report, but satellite images show a missile was [launched].",
        A,
        "",
    ),
    ("modal-relative", "Officials said a missile that could reach Guam was [launched].", A, ""),
    ("modal-after-and", "Iran [fired] missiles and may fire more.", A, ""),
    ("modal-after-that", "North Korea fired a [missile] that could reach the US.", A, ""),
    ("month-may", "In May, North Korea [fired] a missile.", A, ""),
    ("month-may-date", "North Korea [fired] a missile on May 5.", A, ""),
    ("not-only", "North Korea not only [fired] a missile but also flew drones.", A, ""),
    ("as-planned", "The rocket was [launched] as planned.", A, ""),
    ("without-after", "The missile was [launched] without warning.", A, ""),
    ("before", "Seoul had never seen such a test before the North [fired] a missile.", A, ""),
    ("never-before", "The North had never before [launched] a missile.", N, "never before"),
    ("no-abbreviation", "Resolution No. 2397 [imposed] sanctions.", A, ""),
    # Negation.
    ("not", "North Korea did not [fire] a missile.", N, "not"),
    ("nt", "North Korea didn't [fire] a missile.", N, "n't"),
    ("nt-curly", "North Korea didn’t [fire] a missile.", N, "n’t"),
    ("never", "Iran has never [tested] a missile with that range.", N, "never"),
    ("no-noun", "Officials said no [missile] had been launched.", N, "no"),
    ("no-predicate", "Officials said no missile had been [launched].", N, "no"),
    ("no-vote-held", "No [vote] was held.", N, "No"),
    ("not-a-missile", "The object was not a [missile].", N, "not"),
    ("without", "A month passed without a [missile] launch.", N, "without"),
    ("denied-gerund", "Pyongyang denied [launching] a missile.", N, "denied"),
    ("denied-firing", "North Korea denied [firing] a missile on Monday.", N, "denied"),
    (
        "denied-reports",
        "Officials denied reports that a missile had been [launched].",
        N,
        "denied",
    ),
    ("denies-that", "Iran denies that its forces [fired] any missiles.", N, "denies"),
    ("rejected-reports", "Tehran rejected reports of a missile [launch].", N, "rejected reports"),
    (
        "dismissed-reports",
        "The ministry dismissed reports that it had [blocked] oil shipments.",
        N,
        "dismissed reports",
    ),
    ("refuted", "The army refuted claims it had [fired] on the ship.", N, "refuted"),
    ("retracted", "Seoul retracted its report of a missile [launch].", N, "retracted"),
    (
        "did-not-include",
        "The package did not include a proposed [ban] on oil shipments.",
        N,
        "did not include",
    ),
    ("failed-to", "North Korea failed to [launch] the satellite.", N, "failed to"),
    ("ruled-out", "Germany ruled out an immediate [oil embargo] on Russia.", N, "ruled out"),
    ("no-sign-of", "Analysts saw no sign of a missile [launch].", N, "no sign of"),
    (
        "no-evidence",
        "The Pentagon found no evidence that the North [launched] a missile.",
        N,
        "no evidence",
    ),
    ("neither", "Neither Iran nor its allies [fired] missiles.", N, "nor"),
    ("called-off", "The navy called off the missile [test].", N, "called off"),
    ("called-off-after", "The missile [test] was called off.", N, "called off"),
    ("scrapped", "The government scrapped the planned oil [ban].", N, "scrapped"),
    ("cancelled", "The council cancelled the [vote] on sanctions.", N, "cancelled"),
    ("postponed-after", "The [vote] on sanctions was postponed.", N, "postponed"),
    ("put-off-after", "The council [vote] was put off until Friday.", N, "put off"),
    ("pushed-back-after", "The [vote] on the draft was pushed back.", N, "pushed back"),
    (
        "stopped-short-of",
        "The council froze Libyan funds but stopped short of an [embargo] on crude exports.",
        N,
        "stopped short of",
    ),
    (
        "has-not-ruled-out",
        "Washington has not ruled out [restricting] fuel exports.",
        H,
        "not ruled out",
    ),
    ("threatens", "Hamas threatens rocket [fire] over the raids.", H, "threatens"),
    (
        "postponed-long-subject",
        "A council [vote] on a US proposal to impose an arms embargo on Sudan was postponed.",
        N,
        "postponed",
    ),
    (
        "not-imminent",
        "Officials cautioned that a [launch] was not necessarily imminent.",
        N,
        "not necessarily imminent",
    ),
    ("any-hypothetical", "Any missile [launched] from Cuba would be an attack.", H, "Any"),
    (
        "dismissed-as",
        "The army dismissed as propaganda reports that it had [test-fired] a missile.",
        N,
        "dismissed as",
    ),
    ("readying", "Seoul sees signs the North is readying an ICBM [launch].", P, "readying"),
    (
        "dismissing-as",
        "A spokesman issued a statement dismissing as fiction the claim it had [fired] a missile.",
        N,
        "dismissing as",
    ),
    ("fabrication-after", "The 'missile [launch]' claim is a fabrication.", N, "is a fabrication"),
    ("ready-to", "Its missile cities are ready to open [fire] at any moment.", H, "ready to"),
    (
        "correction",
        "Correction: An earlier version of this report said Pakistan had [test-fired] a missile.",
        H,
        "An earlier version",
    ),
    (
        "corrected-claim",
        "The story incorrectly reported that the Council had [voted] on sanctions.",
        H,
        "incorrectly reported",
    ),
    ("correction-fixed", "A missile was [fired] on Monday, not Sunday as reported.", A, ""),
    ("question", "Is there a date yet for the Council [vote] on sanctions?", H, "?"),
    (
        "past-when-year",
        "When North Korean missiles [flew] over Hokkaido in 2017, South Koreans shrugged.",
        PAST,
        "2017",
    ),
    ("past-when-day", "Japan issued an alert when the missile [flew] over Hokkaido.", A, ""),
    (
        "past-years-ago",
        "Twenty-five years ago this week, a rocket [overflew] Japan.",
        PAST,
        "years ago",
    ),
    (
        "past-years-ago-after",
        "North Korea [fired] a missile over Japan 25 years ago.",
        PAST,
        "years ago",
    ),
    (
        "past-years-after",
        "Twenty-five years after the rocket that [overflew] Japan",
        PAST,
        "years after",
    ),
    (
        "past-years-after-closed",
        "Two years after its last ICBM test, North Korea [fired] a missile on Friday.",
        A,
        "",
    ),
    (
        "past-on-this-day",
        "On this day in 1944, Germany [fired] the first V-2 at London.",
        PAST,
        "On this day in",
    ),
    ("compound", "He called the submarine-[launched] missiles a relic.", H, "submarine-launched"),
    ("compound-and-verb", "North Korea [fired] a submarine-launched missile.", A, ""),
    ("compound-verb", "Iran test-[fired] a new cruise missile on Friday.", A, ""),
    (
        "relative-clause-closed",
        "After the test, which flew higher than any missile, the Council [voted] on sanctions.",
        A,
        "",
    ),
    (
        "correction-accusations",
        "Iran rejected accusations that it had [fired] a missile.",
        N,
        "rejected accusations",
    ),
    ("past-since", "North Korea [fired] an ICBM, its first since tests five years ago.", A, ""),
    ("question-quoted", "'Did they just [fire] a missile?' he asked.", A, ""),
    ("headline-question-after-colon", "North Korea [fires] missile: what happens next?", A, ""),
    ("purported", "Videos purported to show a missile being [launched].", H, "purported to show"),
    ("unverified-after", "Videos of a missile [launch] over Sudan unverified", H, "unverified"),
    (
        "rejected-media-reports",
        "The army rejected media reports that it had [fired] a missile.",
        N,
        "rejected media reports",
    ),
    (
        "comparable-to",
        "Its power was comparable to a nuclear [strike].",
        H,
        "comparable to",
    ),
    ("not-true", "It is not true that a missile was [launched].", N, "not true"),
    ("reports-false", "Reports that a missile was [launched] were false.", N, "were false"),
    ("denial-across-when", "Iran denied its forces [fired] missiles when asked.", N, "denied"),
    # Hedges.
    ("may", "North Korea said it may [launch] an ICBM.", H, "may"),
    ("might", "Moscow might [fire] missiles at weapons depots.", H, "might"),
    ("could", "Iran could [test] a new missile within weeks.", H, "could"),
    ("would", "The US said it would impose new [sanctions].", H, "would"),
    ("modal-after", "[Sanctions] could be imposed within days.", H, "could"),
    ("modal-have", "The North may have [fired] as many as five missiles.", H, "may"),
    ("possible", "Ministers will discuss a possible [ban] on Russian crude.", H, "possible"),
    ("potential", "Officials warned of a potential [blockade] of the ports.", H, "potential"),
    ("options", "Japan said an [oil embargo] is one of the options.", H, "one of the options"),
    (
        "options-but",
        "Japan said an [oil embargo] on North Korea is one of the options, but no decision "
        "has been made.",
        H,
        "one of the options",
    ),
    (
        "considering",
        "The EU is reportedly considering an oil [embargo].",
        H,
        "reportedly considering",
    ),
    ("if", "Iran may close the strait if its exports are [blocked].", H, "if"),
    ("whether", "It was unclear whether the missile had been [launched].", H, "whether"),
    ("unless", "Sanctions will follow unless the North stops [firing] missiles.", H, "unless"),
    ("speculation", "There is speculation that a missile was [launched].", H, "speculation"),
    ("rumours", "Rumours that the North [fired] a missile spread online.", H, "Rumours"),
    ("threatened-to", "The Houthis threatened to [fire] missiles at ships.", H, "threatened to"),
    ("threatens-to", "A commander threatens to [blockade] the oil ports.", H, "threatens to"),
    ("warned-it-could", "Iran warned it could [close] the strait.", H, "could"),
    ("vowed-to", "Kim vowed to [fire] more missiles over Japan.", H, "vowed to"),
    ("capable-of", "The submarine is capable of [launching] missiles.", H, "capable of"),
    ("ability-to", "Iran has the ability to [launch] missiles from ships.", H, "ability to"),
    ("may-vote-next-week", "The Security Council may [vote] next week on sanctions.", H, "may"),
    ("not-rule-out", "Berlin did not rule out an [oil embargo].", H, "did not rule out"),
    ("may-headline", "North Korea May [Launch] Missile", H, "May"),
    ("suspected", "Japan said the suspected [launch] was being analysed.", H, "suspected"),
    # Plans.
    ("will", "The council will [vote] on sanctions.", P, "will"),
    ("ll", "They'll [vote] on sanctions.", P, "'ll"),
    ("set-to", "The Security Council is set to [vote] on sanctions.", P, "is set to"),
    ("plans-to", "North Korea plans to [launch] a spy satellite.", P, "plans to"),
    ("due-to", "Ministers are due to [vote] on the package.", P, "are due to"),
    ("scheduled", "A [vote] is scheduled for Friday.", P, "is scheduled"),
    ("next-week", "A [vote] on sanctions next week.", P, "next week"),
    ("expected-to", "The EU is expected to [adopt] the sanctions.", P, "is expected to"),
    ("preparing-to", "Russia is preparing to [launch] a new offensive.", P, "preparing to"),
    ("intends-to", "Washington intends to [impose] an oil embargo.", P, "intends to"),
    ("proposed", "The EU published a proposed [ban] on Russian oil.", P, "proposed"),
    ("draft", "Diplomats circulated a draft [sanctions] resolution.", P, "draft"),
    ("to-vote", "The council met to [vote] on sanctions.", P, "to vote"),
    # Clause boundaries.
    ("semicolon", "Seoul did not confirm it; the North [fired] a missile.", A, ""),
    ("dash", "Nobody was hurt — the missile was [fired] into the sea.", A, ""),
    ("comma-and", "The talks did not resume, and the North [fired] a missile.", A, ""),
    ("but-assertion", "The US may impose sanctions, but the North [fired] a missile.", A, ""),
    ("while", "Seoul would not comment while Tokyo said a missile was [launched].", A, ""),
    ("whereas", "Iran might retaliate whereas Israel [fired] missiles.", A, ""),
    ("after", "No warning was given after the North [fired] a missile.", A, ""),
    (
        "gap-too-long",
        "Seoul ruled out new talks with Pyongyang and its allies in the region this spring "
        "and the North [fired] a missile.",
        A,
        "",
    ),
    # Precedence.
    ("neg-over-plan", "The package did not include a proposed [ban].", N, "did not include"),
    ("neg-over-hedge", "It would not [impose] an oil embargo.", N, "not"),
    ("hedge-over-plan", "The council may vote next week on a draft [sanctions] text.", H, "may"),
    ("hedge-over-will", "Ministers will discuss a possible [embargo].", H, "possible"),
]


@pytest.mark.parametrize(
    ("sentence", "modality", "cue"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_classify(sentence: str, modality: Modality, cue: str) -> None:
    result = run(sentence)
    assert (result.modality, result.cue) == (modality, cue)
    text, start, _ = marked(sentence)
    if cue:
        assert text[result.cue_start : result.cue_end] == cue
    else:
        assert result.cue_start == result.cue_end == start


def test_table_covers_enough_ground() -> None:
    assert len(CASES) >= 60
    assert len({c[0] for c in CASES}) == len(CASES)
    assert {c[2] for c in CASES} == set(Modality)


def test_classify_in_text_finds_the_sentence() -> None:
    text = (
        "North Korea fired a missile on Monday. Pyongyang denied firing a second one. "
        "Japan said the North may launch more."
    )
    first = classify_in_text(text, text.index("fired"), text.index("fired") + 5)
    assert first.asserted
    second = classify_in_text(text, text.index("firing"), text.index("firing") + 6)
    assert (second.modality, second.cue) == (Modality.NEGATED, "denied")
    assert text[second.cue_start : second.cue_end] == "denied"
    third = classify_in_text(text, text.index("launch"), text.index("launch") + 6)
    assert (third.modality, text[third.cue_start : third.cue_end]) == (Modality.HEDGED, "may")


def test_edge_inputs() -> None:
    assert classify("", 0, 0).modality is Modality.ASSERTED
    assert classify("... ;", 0, 3).modality is Modality.ASSERTED
    # A span that covers no word is read as the next word.
    assert classify("It did not  fire.", 10, 11).modality is Modality.NEGATED
    # A cue inside the trigger span is part of what the rule matched, not a modifier of it.
    assert classify("They proposed sanctions.", 5, 23).modality is Modality.ASSERTED
