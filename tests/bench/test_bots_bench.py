"""bench/bots.py's arithmetic on a few labelled agents written here (no downloads): the same
``evaluate`` and report code the real run uses, the product's real ``is_bot`` beside a naive peer."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from bench.bot_corpora import (
    BOT,
    HUMAN,
    UAP_CASES,
    LabelledSet,
    make_disjoint,
    sample,
    uap_sets,
    woothee_sets,
)
from bench.bots import Verdict, evaluate, product_classifier, recent_mainstream, report_json

GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
AHREFS = "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)"
CURL = "curl/8.5.0"
REQUESTS = "python-requests/2.32.3"
CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/131.0.0.0 Safari/537.36")
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"
IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/18.1 Mobile/15E148 Safari/604.1")


def naive_peer(agents: Sequence[str]) -> list[Verdict]:
    """A deliberately poor second opinion, so the test sees misses and false positives counted."""
    flags = ["bot" in agent.lower() or "Mobile" in agent for agent in agents]
    return [(flagged, "naive" if flagged else None) for flagged in flags]


def corpus_sets() -> list[LabelledSet]:
    return make_disjoint([
        LabelledSet("bots", BOT, "test", ((GOOGLEBOT, "search"), (AHREFS, "seo"), (CURL, "library"),
                                          (REQUESTS, "library")),
                    added={GOOGLEBOT: "old", CURL: "new", REQUESTS: "new"}),
        LabelledSet("people", HUMAN, "test", ((CHROME, "desktop"), (FIREFOX, "desktop"), (IPHONE, "mobile")),
                    in_distribution_for=("some-list",)),
        # Googlebot again (a repeat, kept in "bots") and Chrome called a bot (a conflict: dropped from both).
        LabelledSet("more-bots", BOT, "test", ((GOOGLEBOT, "search"), (CHROME, "mislabelled"))),
    ]).sets


def test_recall_and_false_positives_per_set_and_category() -> None:
    corpus = make_disjoint([*corpus_sets()])
    results, _, _ = evaluate(corpus.sets, {"product": product_classifier, "naive": naive_peer})
    report = report_json(corpus, results, _verdicts(corpus.sets), show=5)
    bots, people, more = report["sets"]

    assert (bots["size"], people["size"], more["size"]) == (4, 2, 0)
    assert bots["classifiers"] == {"product": {"flagged": 4, "size": 4, "percent": 100.0},
                                   "naive": {"flagged": 2, "size": 4, "percent": 50.0}}
    assert bots["categories"]["library"]["naive"] == {"flagged": 0, "size": 2, "percent": 0.0}
    assert bots["periods"] == {
        "old": {"product": {"flagged": 1, "size": 1, "percent": 100.0}, "naive": {"flagged": 1, "size": 1, "percent": 100.0}},
        "new": {"product": {"flagged": 2, "size": 2, "percent": 100.0}, "naive": {"flagged": 0, "size": 2, "percent": 0.0}}}
    assert people["periods"] == {}
    assert bots["errors"] == {"product": [], "naive": [["library", CURL, None], ["library", REQUESTS, None]]}
    assert people["classifiers"] == {"product": {"flagged": 0, "size": 2, "percent": 0.0},
                                     "naive": {"flagged": 1, "size": 2, "percent": 50.0}}
    assert people["categories"]["mobile"]["naive"] == {"flagged": 1, "size": 1, "percent": 100.0}
    assert people["errors"]["naive"] == [["mobile", IPHONE, "naive"]]
    assert people["in_distribution_for"] == ["some-list"]


def test_repeats_and_conflicting_labels() -> None:
    corpus = make_disjoint([
        LabelledSet("bots", BOT, "test", ((GOOGLEBOT, "search"), (CURL, "library"))),
        LabelledSet("people", HUMAN, "test", ((CHROME, "desktop"), (CURL, "desktop"))),
        LabelledSet("more-bots", BOT, "test", ((GOOGLEBOT, "search"), (CHROME, "x"), (CURL, "y"))),
    ])
    assert [labelled.agents for labelled in corpus.sets] == [((GOOGLEBOT, "search"),), (), ()]
    assert corpus.conflicts == [(CURL, "bots", "people"), (CHROME, "more-bots", "people")]
    assert corpus.duplicates == 2  # Googlebot in more-bots, and curl there once it is already a conflict
    assert make_disjoint(corpus_sets()).conflicts == []  # corpus_sets already left Chrome-as-bot out


def test_quick_sample_is_the_same_every_run() -> None:
    big = LabelledSet("big", HUMAN, "test", tuple((f"agent {n}", "c") for n in range(50)))
    assert sample(big, 10) == sample(big, 10)
    assert len(sample(big, 10).agents) == 10
    assert sample(big, 100) is big


def test_recent_mainstream_browsers() -> None:
    chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{}.0.0.0 Safari/537.36"
    safari = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/{}.1 Safari/605.1.15"
    agents = [chrome.format(154), chrome.format(116), chrome.format(115), chrome.format(131) + " OPR/116.0.0.0",
              safari.format(26), safari.format(17), safari.format(16), FIREFOX, CURL]
    assert recent_mainstream(agents) == [chrome.format(154), chrome.format(116), safari.format(26),
                                         safari.format(17), FIREFOX]


def _verdicts(sets: list[LabelledSet]) -> dict[str, dict[str, Verdict]]:
    agents = [agent for labelled in sets for agent, _ in labelled.agents]
    return {"product": dict(zip(agents, product_classifier(agents), strict=True)),
            "naive": dict(zip(agents, naive_peer(agents), strict=True))}


def test_woothee_and_uap_core_sets_are_read_from_their_packages(tmp_path: Path) -> None:
    """The two test-only corpora, read from files laid out as their npm packages ship them."""
    testsets = tmp_path / "woothee/woothee/testsets"
    testsets.mkdir(parents=True)
    (testsets / "crawler.yaml").write_text(
        f"- target: '{GOOGLEBOT}'\n  name: Googlebot\n  category: crawler\n")
    (testsets / "misc.yaml").write_text(
        "- target: 'Wget/1.12 (linux-gnu)'\n  name: HTTP Library\n  category: misc\n"
        "- target: 'MagpieRSS/0.61'\n  name: RSSReader\n  category: misc\n")
    (testsets / "pc_windows.yaml").write_text(f"- target: '{CHROME}'\n  name: Chrome\n  category: pc\n")
    (testsets / "blank.yaml").write_text("- target: ''\n  name: UNKNOWN\n  category: UNKNOWN\n")
    bots, people = woothee_sets(tmp_path, "woothee test")
    assert bots.agents == ((GOOGLEBOT, "crawler"), ("Wget/1.12 (linux-gnu)", "http library"))
    assert people.agents == ((CHROME, "pc"),)

    cases = tmp_path / UAP_CASES
    cases.parent.mkdir(parents=True)
    cases.write_text("".join(
        f'\tit("parses", function() {{\n\t\tconst results = uaParser({json.dumps(agent)});\n'
        f'\t\tassert.strictEqual(results.family, {json.dumps(family)}, msg());\n'
        for agent, family in ((GOOGLEBOT, "Googlebot"), (IPHONE, "Mobile Safari"), (FIREFOX, "Firefox"),
                              ("IE test", "Other"))))
    spiders, browsers = uap_sets(tmp_path, "uap test")
    assert spiders.agents == ((GOOGLEBOT, "spider"),)
    assert browsers.agents == ((IPHONE, "device"), (FIREFOX, "no device"))
