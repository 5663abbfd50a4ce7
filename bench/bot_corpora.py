"""Labelled user-agent sets for ``bench/bots.py``, read from public packages installed into a cache.

Nothing here is a project dependency: ``install_sources`` runs ``pip install --target`` and
``npm install --prefix`` into the cache folder, and the loaders read the data files those packages
ship (no package code is imported). Every set says where it came from (package and version) and
for which published list it is *in distribution* (that list was built or tested on these strings,
so a classifier adopting it scores ~100 % there by construction).
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from bench.bot_handmade import HAND_BOTS, HAND_HUMANS

BOT, HUMAN = "bot", "human"
PIP_SOURCES = ("crawler-user-agents", "device-detector")
NPM_SOURCES = ("isbot", "top-user-agents", "user-agents", "top-crawler-agents", "woothee",
               "@financial-times/useragent_parser")
# The npm packages whose data only the held-out sets read: no list the product adopts (nor isbot, as
# far as its README says) was built from them. Woothee's YAML testsets ship with its npm package;
# uap-core's own test cases (tests/test_ua.yaml and the older browser lists) are not published on
# npm or PyPI, but the Financial Times' port ships them, compiled into its mocha test.
WOOTHEE_BOTS = {"crawler": "crawler", "HTTP Library": "http library"}  # by woothee category / name
WOOTHEE_PEOPLE = ("pc", "smartphone", "mobilephone", "appliance")
UAP_CASES = "@financial-times/useragent_parser/test/ua.test.js"
_UAP_CASE = re.compile(r'const results = uaParser\((".*?")\);\n\s*'
                       r'assert\.strictEqual\(results\.family, (".*?")')
# Matomo files these under client type `library`, but they run on people's devices (media playback,
# in-app browser, an app's analytics SDK): a category of their own inside dd-libraries.
ON_A_DEVICE = re.compile(r"AppleCoreMedia|SafariViewService|MatomoTrackerSDK|KaiOS Downloader")
HAND_SOURCE = "hand-written in bench/bot_handmade.py (from memory, see its docstring)"


@dataclass(frozen=True)
class LabelledSet:
    """Agents with one label (``bot`` or ``human``), each with a category within the set."""

    name: str
    label: str
    source: str
    agents: tuple[tuple[str, str], ...]  # (agent, category)
    in_distribution_for: tuple[str, ...] = ()
    added: dict[str, str] = field(default_factory=dict)  # agent -> when its source first listed it


@dataclass
class Corpus:
    sets: list[LabelledSet]
    conflicts: list[tuple[str, str, str]] = field(default_factory=list)  # (agent, bot set, human set)
    duplicates: int = 0


def install_sources(cache: Path, *, refresh: bool = False) -> dict[str, str]:
    """Install the source packages into ``cache`` (once, or again with ``refresh``); their versions."""
    py, js = cache / "py", cache / "js"
    if refresh or not all(_pip_version(py, name) for name in PIP_SOURCES):
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--upgrade",
                        "--target", str(py), *PIP_SOURCES], check=True)
    if refresh or not all(_npm_version(js, name) for name in NPM_SOURCES):
        js.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "install", "--silent", "--no-audit", "--no-fund", "--ignore-scripts",
                        "--prefix", str(js),
                        *(f"{name}@latest" for name in NPM_SOURCES)], check=True)
    versions = {name: _pip_version(py, name) for name in PIP_SOURCES}
    versions |= {name: _npm_version(js, name) for name in NPM_SOURCES}
    return {name: version or "?" for name, version in versions.items()}


def _pip_version(target: Path, name: str) -> str | None:
    prefix = name.replace("-", "_") + "-"
    for info in sorted(target.glob(f"{prefix}*.dist-info")):
        return info.name[len(prefix):-len(".dist-info")]
    return None


def _npm_version(prefix: Path, name: str) -> str | None:
    manifest = prefix / "node_modules" / name / "package.json"
    return str(json.loads(manifest.read_text())["version"]) if manifest.exists() else None


def load_corpus(cache: Path, versions: dict[str, str]) -> Corpus:
    """Every set, in the order that decides which set keeps an agent several sources list."""
    py, js = cache / "py", cache / "js" / "node_modules"
    cua = f"crawler-user-agents {versions['crawler-user-agents']}"
    dd = f"device-detector {versions['device-detector']}"
    dd_fixtures = _device_detector_fixtures(cache, py, versions["device-detector"])
    top = json.loads((js / "top-user-agents/src/index.json").read_text())
    desktop = set(json.loads((js / "top-user-agents/src/desktop.json").read_text()))
    generated = json.loads((js / "user-agents/dist/user-agents.json").read_text())
    crawlers = json.loads((py / "crawleruseragents/crawler-user-agents.json").read_text())
    top_crawlers = json.loads((js / "top-crawler-agents/index.json").read_text())
    sets = [
        LabelledSet("hand-bots", BOT, HAND_SOURCE, tuple((agent, kind) for kind, agent in HAND_BOTS)),
        LabelledSet("hand-humans", HUMAN, HAND_SOURCE, tuple((agent, kind) for kind, agent in HAND_HUMANS)),
        LabelledSet("top-user-agents", HUMAN, f"top-user-agents {versions['top-user-agents']} (npm)",
                    tuple((agent, "desktop" if agent in desktop else "mobile") for agent in top)),
        LabelledSet("user-agents", HUMAN, f"user-agents {versions['user-agents']} (npm)",
                    tuple((row["userAgent"], row.get("deviceCategory") or "?") for row in generated),
                    in_distribution_for=("isbot",)),
        LabelledSet("cua-instances", BOT, f"{cua} (PyPI), `instances` of each pattern",
                    tuple((agent, (entry.get("tags") or ["untagged"])[0])
                          for entry in crawlers for agent in entry.get("instances", ())),
                    in_distribution_for=("crawler-user-agents", "isbot"),
                    added={agent: _period(entry.get("addition_date"))
                           for entry in crawlers for agent in entry.get("instances", ())}),
        LabelledSet("top-crawler-agents", BOT, f"top-crawler-agents {versions['top-crawler-agents']} (npm)",
                    tuple((agent.strip("'"), "crawler") for agent in top_crawlers),
                    in_distribution_for=("isbot",)),
        LabelledSet("dd-bots", BOT, f"{dd} (PyPI), tests/fixtures/upstream/bots.yml",
                    tuple(row for row in dd_fixtures if row[1].startswith("bot: ")),
                    in_distribution_for=("device-detector", "isbot")),
        LabelledSet("dd-libraries", BOT, f"{dd} (PyPI), fixtures with client type `library`",
                    tuple(row for row in dd_fixtures if row[1].startswith("library")),
                    in_distribution_for=("device-detector",)),
        LabelledSet("dd-clients", HUMAN, f"{dd} (PyPI), fixtures of devices and apps (no bots, no libraries)",
                    tuple(row for row in dd_fixtures
                          if not row[1].startswith(("bot: ", "library"))),
                    in_distribution_for=("device-detector",)),
        *woothee_sets(js, f"woothee {versions['woothee']} (npm), woothee/testsets/*.yaml"),
        *uap_sets(js, f"uap-core's test cases as shipped in @financial-times/useragent_parser "
                       f"{versions['@financial-times/useragent_parser']} (npm), test/ua.test.js; "
                       f"labelled by ua-parser-builtins {_installed('ua-parser-builtins')}"),
    ]
    return make_disjoint(sets)


def _installed(distribution: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "?"


def woothee_sets(js: Path, source: str) -> list[LabelledSet]:
    """Held out: woothee's testsets. Its crawlers and HTTP libraries are bots; PCs, smartphones,
    feature phones and appliances (consoles, TVs) are people; its RSS readers and blank agents are
    left out (a feed reader may be a person's app or a server)."""
    import yaml

    bots: list[tuple[str, str]] = []
    people: list[tuple[str, str]] = []
    for path in sorted((js / "woothee/woothee/testsets").glob("*.yaml")):
        for case in yaml.safe_load(path.read_text()) or ():
            agent = str(case.get("target") or "").strip()
            category, name = case.get("category"), case.get("name")
            if not agent:
                continue
            if kind := WOOTHEE_BOTS.get(category) or WOOTHEE_BOTS.get(name):
                bots.append((agent, kind))
            elif category in WOOTHEE_PEOPLE:
                people.append((agent, category))
    return [LabelledSet("woothee-bots", BOT, source, tuple(bots)),
            LabelledSet("woothee-clients", HUMAN, source, tuple(people))]


def uap_sets(js: Path, source: str) -> list[LabelledSet]:
    """Held out: uap-core's test agents. uap-core's own device rules decide the label (device family
    ``Spider`` is a bot); of the rest only agents its tests give a named browser family are people
    (``Other`` holds site rippers and junk such as "IE test"), a device or not as the category."""
    import ua_parser

    bots: list[tuple[str, str]] = []
    people: list[tuple[str, str]] = []
    for quoted_agent, quoted_family in _UAP_CASE.findall((js / UAP_CASES).read_text()):
        agent, family = json.loads(quoted_agent).strip(), json.loads(quoted_family)
        if not agent:
            continue
        device = ua_parser.parse(agent).device
        if device is not None and device.family == "Spider":
            bots.append((agent, "spider"))
        elif family != "Other":
            known = device is not None and device.family != "Other"
            people.append((agent, "device" if known else "no device"))
    return [LabelledSet("uap-spiders", BOT, source, tuple(bots)),
            LabelledSet("uap-browsers", HUMAN, source, tuple(people))]


def _period(addition_date: str | None) -> str:
    """A pattern's addition date ("2026/10/22") as the period the table groups by."""
    year = (addition_date or "")[:4]
    if not year.isdigit():
        return "pattern undated"
    return "pattern added before 2023" if year < "2023" else f"pattern added in {year}"


def _device_detector_fixtures(cache: Path, py: Path, version: str) -> list[tuple[str, str]]:
    """(agent, category) from Matomo's fixtures: ``bot: <category>``, the client type when it is
    not a browser (mobile app, pim, mediaplayer, library...), else the device type."""
    parsed = cache / f"device-detector-{version}-fixtures-v2.json"
    if parsed.exists():  # reading the YAML takes ~10 s
        return [(agent, category) for agent, category in json.loads(parsed.read_text())]
    import yaml  # the project's test extra; only this source needs it

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    rows: list[tuple[str, str]] = []
    for path in sorted((py / "device_detector/tests/fixtures/upstream").glob("*.yml")):
        for entry in yaml.load(path.read_text(), Loader=loader) or ():
            agent = str(entry.get("user_agent") or "")
            if not agent.strip():  # client-hints fixtures with no agent: nothing to classify
                continue
            if "bot" in entry:
                rows.append((agent, f"bot: {(entry['bot'] or {}).get('category') or 'uncategorised'}"))
                continue
            client = (entry.get("client") or {}).get("type") or ""
            device = (entry.get("device") or {}).get("type") or "unknown device"
            if client == "library" and ON_A_DEVICE.search(agent):
                client = "library: on a device"
            rows.append((agent, client if client and client != "browser" else device))
    parsed.write_text(json.dumps(rows))
    return rows


def make_disjoint(sets: Iterable[LabelledSet]) -> Corpus:
    """Each agent kept once, in the first set that lists it; an agent one source calls a bot and
    another a person is dropped from both and reported as a conflict."""
    first_owner: dict[str, LabelledSet] = {}
    conflicted: set[str] = set()
    corpus = Corpus(sets=[])
    kept_per_set: list[tuple[LabelledSet, list[tuple[str, str]]]] = []
    for labelled in sets:
        kept: list[tuple[str, str]] = []
        for agent, category in labelled.agents:
            owner = first_owner.get(agent)
            if owner is None:
                first_owner[agent] = labelled
                kept.append((agent, category))
            elif owner.label != labelled.label and agent not in conflicted:
                conflicted.add(agent)
                bot_set, human_set = (owner, labelled) if owner.label == BOT else (labelled, owner)
                corpus.conflicts.append((agent, bot_set.name, human_set.name))
            else:
                corpus.duplicates += 1
        kept_per_set.append((labelled, kept))
    for labelled, kept in kept_per_set:
        agents = tuple(row for row in kept if row[0] not in conflicted)
        corpus.sets.append(LabelledSet(labelled.name, labelled.label, labelled.source, agents,
                                       labelled.in_distribution_for, labelled.added))
    return corpus


def sample(labelled: LabelledSet, size: int) -> LabelledSet:
    """At most ``size`` agents, the same ones on every run (seeded by the set's name)."""
    if len(labelled.agents) <= size:
        return labelled
    chosen = sorted(random.Random(labelled.name).sample(range(len(labelled.agents)), size))
    return LabelledSet(labelled.name, labelled.label, labelled.source,
                       tuple(labelled.agents[index] for index in chosen), labelled.in_distribution_for,
                       labelled.added)
