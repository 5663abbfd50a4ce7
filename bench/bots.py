"""Bot classifier evaluation: recall on labelled bots and false positives on labelled people, per set.

Run from the repository root: ``python bench/bots.py [--cache DIR] [--quick] [--show 20] [--json]``.
The sets come from public packages installed at run time into ``--cache`` (``bench/bot_corpora.py``);
the product's ``analytics.traffic.agents.is_bot`` and the npm package ``isbot`` (one ``node`` call for
all agents) classify the same strings. Prints figures and asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analytics.traffic.agents import clear_agent_caches, is_bot, lacks_browser_token
from analytics.traffic.bot_lists import SOURCES, holding_out
from bench.bot_corpora import BOT, HUMAN, Corpus, LabelledSet, install_sources, load_corpus, sample

Verdict = tuple[bool, str | None]  # (flagged, why: the product's reason code or isbot's matched text)
Classifier = Callable[[Sequence[str]], list[Verdict]]
DEFAULT_CACHE = Path(__file__).resolve().parent / "results" / "bots-cache"
QUICK_SET_SIZE = 300
RELEASES_PER_YEAR = 13  # Chrome, Edge and Firefox ship a major version every four weeks


@dataclass
class Tally:
    size: int = 0
    flagged: int = 0

    @property
    def percent(self) -> float:
        return 100 * self.flagged / self.size if self.size else 0.0


@dataclass
class SetResult:
    """One set's figures: per classifier, overall and per category, and the agents it got wrong
    (bots it let through in a bot set, people it flagged in a human set)."""

    labelled: LabelledSet
    totals: dict[str, Tally] = field(default_factory=dict)
    categories: dict[str, dict[str, Tally]] = field(default_factory=dict)
    periods: dict[str, dict[str, Tally]] = field(default_factory=dict)  # by when the source added it
    errors: dict[str, list[tuple[str, str, str | None]]] = field(default_factory=dict)


def product_classifier(agents: Sequence[str]) -> list[Verdict]:
    verdicts = [is_bot(agent) for agent in agents]
    return [(v.is_bot, None if v.reason_code is None else str(v.reason_code)) for v in verdicts]


def with_bare_classifier(agents: Sequence[str]) -> list[Verdict]:
    """Tier 1, and an agent it lets through that is a bare product name counted as flagged too
    (tier 3's ``no_browser_token`` suspicion, which alone does not flag a session: an upper bound
    of what tier 3 can add, and the false positives that suspicion carries)."""
    return [(True, "no_browser_token") if not flagged and lacks_browser_token(agent) else (flagged, why)
            for agent, (flagged, why) in zip(agents, product_classifier(agents), strict=True)]


def held_out_classifier(sets: Sequence[LabelledSet], classify_one: Classifier = product_classifier
                        ) -> Classifier:
    """The product with the maintained lists a set is in distribution for left out, set by set: how
    the other lists and the project's own rules do on agents they were not written from."""
    held_out = {agent: tuple(s for s in labelled.in_distribution_for if s in SOURCES)
                for labelled in sets for agent, _ in labelled.agents}

    def classify(agents: Sequence[str]) -> list[Verdict]:
        verdicts: dict[str, Verdict] = {}
        for sources in sorted(set(held_out.values())):
            group = [agent for agent in agents if held_out.get(agent, ()) == sources]
            clear_agent_caches()
            with holding_out(sources):
                verdicts.update(zip(group, classify_one(group), strict=True))
        clear_agent_caches()
        return [verdicts[agent] for agent in agents]

    return classify


def isbot_classifier(cache: Path) -> Classifier:
    """The npm package, all agents in one ``node`` process: the matched text for a bot, else null."""
    script = ("const {isbot, isbotMatch} = require(process.argv[1]);"
              "const agents = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
              "const verdicts = agents.map(a => isbot(a) ? (isbotMatch(a) ?? '') : null);"
              "process.stdout.write(JSON.stringify(verdicts));")

    def classify(agents: Sequence[str]) -> list[Verdict]:
        module = str((cache / "js" / "node_modules" / "isbot").resolve())
        done = subprocess.run(["node", "-e", script, module], input=json.dumps(list(agents)),
                              capture_output=True, text=True, check=True)
        return [(match is not None, match) for match in json.loads(done.stdout)]

    return classify


def evaluate(sets: Sequence[LabelledSet], classifiers: dict[str, Classifier]
             ) -> tuple[list[SetResult], dict[str, dict[str, Verdict]], dict[str, float]]:
    """Every classifier on every agent (one call each); the per-set results, each classifier's
    verdict per agent, and its seconds."""
    agents = [agent for labelled in sets for agent, _ in labelled.agents]
    verdicts: dict[str, dict[str, Verdict]] = {}
    seconds: dict[str, float] = {}
    for name, classify in classifiers.items():
        started = time.perf_counter()
        verdicts[name] = dict(zip(agents, classify(agents), strict=True))
        seconds[name] = time.perf_counter() - started
    results = []
    for labelled in sets:
        result = SetResult(labelled)
        for name in classifiers:
            result.totals[name] = Tally()
            result.errors[name] = []
        for agent, category in labelled.agents:
            groups = [result.categories.setdefault(category, {name: Tally() for name in classifiers})]
            if agent in labelled.added:
                groups.append(result.periods.setdefault(labelled.added[agent],
                                                        {name: Tally() for name in classifiers}))
            for name in classifiers:
                flagged, why = verdicts[name][agent]
                for tally in (result.totals[name], *(group[name] for group in groups)):
                    tally.size += 1
                    tally.flagged += flagged
                if flagged != (labelled.label == BOT):
                    result.errors[name].append((category, agent, why))
        results.append(result)
    return results, verdicts, seconds


_CHROMIUM_BRANDS = re.compile(r"OPR/|SamsungBrowser|YaBrowser|UCBrowser|Vivaldi|Brave|Whale|MiuiBrowser|"
                              r"HeyTap|Electron/|Teams/|; wv\)|HeadlessChrome")
_EDGE = re.compile(r"\bEdg(?:A|iOS)?/(\d+)")
_FIREFOX = re.compile(r"\b(?:Firefox|FxiOS)/(\d+)")
_CHROME = re.compile(r"\b(?:Chrome|CriOS)/(\d+)")
_SAFARI = re.compile(r"Version/(\d+)[.\d]* (?:Mobile/\w+ )?Safari/")


def mainstream_release(agent: str) -> tuple[str, int] | None:
    """("Chrome"|"Edge"|"Firefox"|"Safari", major) for those browsers' own agents, else None."""
    if _CHROMIUM_BRANDS.search(agent):
        return None
    if hit := _EDGE.search(agent):
        return "Edge", int(hit.group(1))
    if (hit := _FIREFOX.search(agent)) and "SeaMonkey" not in agent:
        return "Firefox", int(hit.group(1))
    if hit := _CHROME.search(agent):
        return "Chrome", int(hit.group(1))
    if (hit := _SAFARI.search(agent)) and "Android" not in agent and not _CHROME.search(agent):
        return "Safari", int(hit.group(1))
    return None


def _safari_year(major: int) -> int:
    return 2006 + major if major <= 18 else 1999 + major  # Safari 18 (2024), then 26 (2025)


def recent_mainstream(agents: Sequence[str]) -> list[str]:
    """Chrome/Edge/Firefox/Safari agents released in the three years before the newest one seen:
    39 major versions for the four-weekly browsers, three yearly Safari releases."""
    releases = {agent: release for agent in agents if (release := mainstream_release(agent))}
    newest: dict[str, int] = {}
    for family, major in releases.values():
        newest[family] = max(newest.get(family, 0), major)
    recent = []
    for agent, (family, major) in releases.items():
        if family == "Safari":
            keep = _safari_year(major) > _safari_year(newest[family]) - 3
        else:
            keep = major > newest[family] - 3 * RELEASES_PER_YEAR
        if keep:
            recent.append(agent)
    return recent


def _figure(tally: Tally) -> str:
    return f"{tally.percent:6.1f} % {tally.flagged:>6}"


def print_report(corpus: Corpus, results: Sequence[SetResult], verdicts: dict[str, dict[str, Verdict]],
                 seconds: dict[str, float], show: int) -> None:
    names = list(verdicts)
    print("Sources:")
    for result in results:
        labelled = result.labelled
        print(f"  {labelled.name:19} {labelled.label:5} {labelled.source}")
    print(f"{corpus.duplicates} repeated agents kept once (first set wins); {len(corpus.conflicts)} agents "
          "labelled bot by one source and human by another left out of both (listed below)\n")
    heads = "".join(f" {name + ' (recall/FP, n)':>18}" for name in names)
    print(f"{'set / category':30} {'label':5} {'source':27} {'size':>6}{heads}  in distribution for")
    for result in results:
        labelled = result.labelled
        short_source = labelled.source.split(" (")[0].replace("hand-written in bench/bot_handmade.py", "hand")
        cells = "".join(f" {_figure(result.totals[name]):>18}" for name in names)
        print(f"{labelled.name:30} {labelled.label:5} {short_source:27} {len(labelled.agents):>6}{cells}  "
              f"{', '.join(labelled.in_distribution_for) or '-'}")
        rows = sorted(result.categories.items(), key=lambda item: -item[1][names[0]].size)
        for category, tallies in rows + sorted(result.periods.items()):
            cells = "".join(f" {_figure(tallies[name]):>18}" for name in names)
            print(f"  {category[:28]:28} {'':5} {'':27} {tallies[names[0]].size:>6}{cells}")
    recent = recent_mainstream([agent for result in results if result.labelled.label == HUMAN
                                for agent, _ in result.labelled.agents])
    flagged = {name: sum(verdicts[name][agent][0] for agent in recent) for name in names}
    print(f"\nmainstream browsers of the last three years flagged: {flagged[names[0]]} of {len(recent)} "
          f"({', '.join(f'{name}: {count}' for name, count in flagged.items())})")
    for agent in [agent for agent in recent if verdicts[names[0]][agent][0]][:show]:
        print(f"  {names[0]} flags {agent}  -> {verdicts[names[0]][agent][1]}")
    print("seconds for all agents: " + ", ".join(f"{name} {value:.2f}" for name, value in seconds.items()))
    if show:
        for result in results:
            wrong = result.errors[names[0]]
            kind = "misses" if result.labelled.label == BOT else "false positives"
            print(f"\n{result.labelled.name}: {names[0]} {kind} ({len(wrong)}), "
                  f"first {min(show, len(wrong))}:")
            for category, agent, why in wrong[:show]:
                print(f"  [{category}] {agent[:150]}" + (f"  -> {why}" if why else ""))
        print(f"\nlabel conflicts ({len(corpus.conflicts)}), first {min(show, len(corpus.conflicts))}:")
        for agent, bot_set, human_set in corpus.conflicts[:show]:
            print(f"  bot in {bot_set}, human in {human_set}: {agent[:150]}")


def report_json(corpus: Corpus, results: Sequence[SetResult], verdicts: dict[str, dict[str, Verdict]],
                show: int) -> dict[str, Any]:
    recent = recent_mainstream([agent for result in results if result.labelled.label == HUMAN
                                for agent, _ in result.labelled.agents])

    def tallies(by_name: dict[str, Tally]) -> dict[str, Any]:
        return {name: {"flagged": t.flagged, "size": t.size, "percent": round(t.percent, 2)}
                for name, t in by_name.items()}

    return {
        "sets": [{
            "name": r.labelled.name, "label": r.labelled.label, "source": r.labelled.source,
            "size": len(r.labelled.agents), "in_distribution_for": list(r.labelled.in_distribution_for),
            "classifiers": tallies(r.totals),
            "categories": {category: tallies(by_name) for category, by_name in r.categories.items()},
            "periods": {period: tallies(by_name) for period, by_name in r.periods.items()},
            "errors": {name: [list(error) for error in errors[:show]] for name, errors in r.errors.items()},
        } for r in results],
        "mainstream_recent": {"size": len(recent), "flagged": {
            name: sum(verdicts[name][agent][0] for agent in recent) for name in verdicts}},
        "conflicts": [list(conflict) for conflict in corpus.conflicts],
        "duplicates": corpus.duplicates,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where the source packages go")
    parser.add_argument("--refresh", action="store_true", help="install the newest source packages again")
    parser.add_argument("--quick", action="store_true", help=f"at most {QUICK_SET_SIZE} agents per set")
    parser.add_argument("--show", type=int, default=20, help="misses and false positives listed per set")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead")
    parser.add_argument("--held-out", action="store_true",
                        help="add two columns: the product without the maintained lists each set is in "
                             "distribution for (how the rest generalise), and the same with tier 3's "
                             "bare-name suspicion counted as flagged (+bare)")
    args = parser.parse_args()

    started = time.perf_counter()
    versions = install_sources(args.cache, refresh=args.refresh)
    corpus = load_corpus(args.cache, versions)
    if args.quick:
        corpus.sets = [sample(labelled, QUICK_SET_SIZE) for labelled in corpus.sets]
    classifiers = {"product": product_classifier, "isbot": isbot_classifier(args.cache)}
    if args.held_out:
        classifiers["held-out"] = held_out_classifier(corpus.sets)
        classifiers["+bare"] = held_out_classifier(corpus.sets, with_bare_classifier)
    results, verdicts, seconds = evaluate(corpus.sets, classifiers)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parent).stdout.strip()
    if args.json:
        print(json.dumps({"commit": commit, "versions": versions, "quick": args.quick,
                          **report_json(corpus, results, verdicts, args.show)}, indent=1))
        return
    print(f"commit {commit}, {time.strftime('%Y-%m-%d', time.gmtime())}, product = "
          f"analytics.traffic.agents.is_bot, peer = isbot {versions['isbot']} on node"
          f"{' (--quick)' if args.quick else ''}")
    print_report(corpus, results, verdicts, seconds, args.show)
    print(f"\nwhole run {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
