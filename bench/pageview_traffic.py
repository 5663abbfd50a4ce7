"""Realistic page-view traffic for bench/pageviews.py, and the load-generator process that sends it.

The model (seeded, so a run is repeatable):

- **User agents**: ``bench.user_agents.real_looking_agents`` (its template shares: ~55 % desktop,
  ~35 % mobile, ~5 % tablet, ~5 % bots: Googlebot, GPTBot, AhrefsBot, python-requests, curl).
  Human agents are drawn with Zipf weights (1/rank over a seeded shuffle), as real traffic repeats
  a few agents heavily; bot agents uniformly; scanners from ``SCANNER_AGENTS`` below.
- **Visitors**: ``bot_share`` of them are crawlers (one or two sessions of 5-40 pages, 0.5-5 s
  apart, no engagement, no ids), ``scanner_share`` are vulnerability scanners (5-25 requests for
  ``SCAN_PATHS``), the rest people: an SDK ``anonymousId``, 1 + geometric extra sessions (mean
  ``sessions_per_visitor``) 45 min to 8 h apart, each with an SDK ``sessionId``, 45 % one-page
  bounces else 2-6 pages, a ``PageEngagement`` (scroll depth, time on page) after 85 % of page
  views, dwell lognormal (median ~27 s). The first page of a session carries the external
  referrer (direct, search, social, email, paid, referral, with UTM tags in the URL or in
  ``context.utm*``), later pages the previous page. Every event carries ``context.userAgent``,
  locale, screen and country/region/city (what a geo proxy would add).
- **Visitor identity**: the product derives the visitor id from the *request's* client address and
  user agent (tenant + IP + agent, daily salt); ``anonymousId`` does not enter it. Visitors are
  therefore sent in *groups* that share one client address (``X-Forwarded-For``, which the API
  trusts from 127.0.0.1) and whose agents are all different, so every generated visitor is one
  visitor id: ``visitors_per_ip`` = 1 is a browser sending its own events, larger groups are a
  relay forwarding many people's events in time order. A group's events are sorted by time and
  cut into bodies of exactly ``batch`` events (a group's last few events are dropped to keep the
  size exact, so every response can be checked for ``accepted == batch``).

The load process reuses ``bench.loadgen.closed_loop``: each group runs as a ``closed_loop`` with
one connection and its own ``X-Forwarded-For``; when a group's bodies are used up the next group
starts on a new connection, so ``concurrency`` connections are busy at any time.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import random
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from typing import Any
from urllib.parse import urlencode, urlsplit

import orjson

from bench.harness import track_body
from bench.loadgen import Record, closed_loop, run_loop
from bench.user_agents import real_looking_agents

SITE = "https://www.example.com"
_DOCS = ("getting-started", "install", "sdk/javascript", "sdk/python", "sdk/ios", "sdk/android", "events",
         "sessions", "funnels", "tours", "api/graphql", "api/export", "api/keys", "bots", "privacy",
         "self-hosting", "retention", "dashboards", "alerts", "faq")
_POSTS = tuple(f"/blog/{slug}" for slug in (
    "onboarding-tours", "measuring-funnels", "cookieless-analytics", "bot-traffic-2025", "utm-guide",
    "session-replay-vs-analytics", "retention-curves", "product-led-growth", "changelog-march",
    "graphql-analytics", "feature-adoption", "nps-is-not-enough", "ai-crawlers", "dark-patterns",
    "time-on-page", "scroll-depth", "bounce-rate-myths", "activation-metrics", "churn-signals",
    "pricing-pages", "ab-testing-pitfalls", "privacy-by-design", "server-side-tracking",
    "event-naming", "north-star-metric", "cohort-analysis", "heatmaps", "referrer-spam",
    "core-web-vitals", "saas-benchmarks"))
PAGES = ("/", "/pricing", "/features", "/features/tours", "/features/funnels", "/features/sessions",
         "/customers", "/changelog", "/signup", "/login", "/about", "/careers", "/contact", "/security",
         "/docs", *(f"/docs/{d}" for d in _DOCS), "/blog", *_POSTS,
         *(f"/integrations/{name}" for name in ("segment", "slack", "hubspot", "salesforce", "zapier",
                                                "bigquery", "snowflake", "intercom")))
_LANDINGS = ("/", "/", "/", "/pricing", "/features", "/docs/getting-started", *_POSTS[:12])

# (kind, weight, referrers, UTM tags or None): the session's first page.
SOURCES: tuple[tuple[str, float, tuple[str | None, ...], dict[str, str] | None], ...] = (
    ("direct", 30, (None,), None),
    ("search", 27, ("https://www.google.com/", "https://www.google.com/", "https://www.google.de/",
                    "https://www.bing.com/", "https://duckduckgo.com/", "https://www.ecosia.org/"), None),
    ("social", 11, ("https://t.co/", "https://www.linkedin.com/", "https://www.reddit.com/r/webdev/",
                    "https://www.facebook.com/", "https://news.ycombinator.com/"), None),
    ("social+utm", 3, (None, "https://t.co/"),
     {"utm_source": "twitter", "utm_medium": "social", "utm_campaign": "launch_week"}),
    ("email", 8, (None, "https://mail.google.com/"),
     {"utm_source": "newsletter", "utm_medium": "email", "utm_campaign": "monthly_digest"}),
    ("paid", 6, ("https://www.google.com/",),
     {"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "brand", "utm_term": "product analytics"}),
    ("referral", 15, ("https://partner-blog.example.org/best-tools", "https://github.com/awesome/analytics",
                      "https://dev.to/someone/why-we-switched", "https://stackoverflow.com/questions/7410"),
     None),
)
PLACES = (("US", "CA", "San Francisco", 18), ("US", "NY", "New York", 12), ("US", "TX", "Austin", 6),
          ("DE", "BE", "Berlin", 9), ("GB", "ENG", "London", 9), ("FR", "IDF", "Paris", 6),
          ("IN", "KA", "Bengaluru", 9), ("BR", "SP", "São Paulo", 5), ("JP", "13", "Tokyo", 4),
          ("CA", "ON", "Toronto", 5), ("NL", "NH", "Amsterdam", 4), ("ES", "MD", "Madrid", 3),
          ("AU", "NSW", "Sydney", 3), ("PL", "14", "Warsaw", 3), ("SE", "AB", "Stockholm", 2),
          ("NG", "LA", "Lagos", 2))
LOCALES = ("en-US", "en-GB", "de-DE", "fr-FR", "es-ES", "pt-BR", "ja-JP", "en-IN", "nl-NL", "pl-PL")
# Announced scanners, plus one with an ordinary browser agent (caught by the paths alone).
SCANNER_AGENTS = (
    "Mozilla/5.0 zgrab/0.x",
    "Mozilla/5.0 (compatible; Nuclei - Open-source project (github.com/projectdiscovery/nuclei))",
    "sqlmap/1.8.2#stable (https://sqlmap.org)",
    "Mozilla/5.0 (compatible; CensysInspect/1.1; +https://about.censys.io/)",
    "Fuzz Faster U Fool v2.1.0-dev",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
)
SCAN_PATHS = ("/.env", "/.env.production", "/.git/config", "/wp-admin/setup-config.php", "/wp-login.php",
              "/xmlrpc.php", "/phpmyadmin/", "/adminer.php",
              "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php",
              "/config.php.bak", "/backup.sql", "/.aws/credentials", "/server-status", "/actuator/env",
              "/cgi-bin/luci", "/.DS_Store", "/index.php", "/info.php")
# A person's sessions stop after this (so a phase's events end within two days of its period).
MAX_VISITOR_SPAN = timedelta(hours=40)
# What marks an agent of real_looking_agents as one of its bot templates.
BOT_TOKENS = ("bot", "python-requests/", "curl/")


@dataclass(frozen=True)
class Mix:
    """How the traffic is drawn; ``start``/``span_hours`` place it in time (UTC epoch seconds)."""

    agents: int = 2000  # distinct agents in the pool (real_looking_agents)
    bot_share: float = 0.05  # of visitors
    scanner_share: float = 0.003
    sessions_per_visitor: float = 2.0  # mean, people only
    visitors_per_ip: int = 200
    span_hours: float = 8.0  # first sessions start uniformly in [start - span, start]
    start: float = 0.0  # 0: now
    seed: int = 1
    ip_base: int = 0  # first group's address is 10.0.0.0 + ip_base
    sdk_ids: bool = True  # people send anonymousId and sessionId


@dataclass
class Stats:
    """What was generated (before any body was sent)."""

    visitors: Counter[str] = field(default_factory=Counter)  # person, bot, scanner
    sessions: Counter[str] = field(default_factory=Counter)  # planned sessions by visitor kind
    events: Counter[str] = field(default_factory=Counter)  # by type
    sources: Counter[str] = field(default_factory=Counter)  # people's sessions by source kind
    agents: set[str] = field(default_factory=set)
    groups: int = 0
    dropped_events: int = 0  # cut from groups' tails to keep bodies at exactly ``batch`` events
    bodies: int = 0
    body_bytes: int = 0

    def add(self, other: Stats) -> None:
        for name in ("visitors", "sessions", "events", "sources"):
            getattr(self, name).update(getattr(other, name))
        self.agents |= other.agents
        for name in ("groups", "dropped_events", "bodies", "body_bytes"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class Group:
    ip: str
    bodies: list[bytes]
    stats: Stats


class AgentPool:
    """The agents of a :class:`Mix`: people (Zipf weights), bots (uniform), scanners."""

    def __init__(self, mix: Mix) -> None:
        pool = real_looking_agents(mix.agents, seed=mix.seed)
        self.bots = [a for a in pool if any(t in a.lower() for t in BOT_TOKENS)]
        people = [a for a in pool if a not in set(self.bots)]
        random.Random(mix.seed).shuffle(people)
        self.people = people
        self.cumulative = list(itertools.accumulate(1 / rank for rank in range(1, len(people) + 1)))
        self.scanners = list(SCANNER_AGENTS)

    def person(self, rng: random.Random) -> str:
        at = bisect.bisect_left(self.cumulative, rng.random() * self.cumulative[-1])
        return self.people[min(at, len(self.people) - 1)]

    def distinct(self, rng: random.Random, draw: Callable[[random.Random], str], taken: set[str]) -> str:
        """A draw not in ``taken`` (so one address never shares an agent between two visitors)."""
        for _ in range(200):
            agent = draw(rng)
            if agent not in taken:
                return agent
        return agent  # the pool is exhausted for this group: two visitors will merge


def _stamp(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _event(rng: random.Random, kind: str, at: datetime, url: str, context: dict[str, Any],
           **extra: Any) -> dict[str, Any]:
    event = {"id": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "type": kind,
             "timestamp": _stamp(at), "url": url, "context": context}
    event.update({k: v for k, v in extra.items() if v is not None})
    return event


def _screen(agent: str) -> tuple[int, int]:
    if "iPad" in agent:
        return 820, 1180
    if "Mobile" in agent or "iPhone" in agent:
        return 390, 844
    return 1920, 1080


def person_events(rng: random.Random, agent: str, start: datetime, mix: Mix,
                  stats: Stats) -> list[dict[str, Any]]:
    """A person's sessions (see the module docstring)."""
    anonymous = f"anon-{rng.getrandbits(64):016x}" if mix.sdk_ids else None
    country, region, city = rng.choices([p[:3] for p in PLACES], [p[3] for p in PLACES])[0]
    width, height = _screen(agent)
    base = {"userAgent": agent, "locale": rng.choice(LOCALES), "screenWidth": width, "screenHeight": height,
            "country": country, "region": region, "city": city}
    extra_sessions = 0
    p = 1 / max(1.0, mix.sessions_per_visitor)  # geometric number of further sessions, mean - 1
    while rng.random() > p and extra_sessions < 20:
        extra_sessions += 1
    events: list[dict[str, Any]] = []
    at = start
    for _ in range(1 + extra_sessions):
        if at - start > MAX_VISITOR_SPAN:
            break
        stats.sessions["person"] += 1
        session = f"s-{rng.getrandbits(48):012x}" if mix.sdk_ids else None
        kind, _, referrers, tags = rng.choices(SOURCES, [s[1] for s in SOURCES])[0]
        stats.sources[kind] += 1
        referrer = rng.choice(referrers)
        path = rng.choice(_LANDINGS)
        query, context_tags = "", {}
        if tags:
            given = dict(tags)
            if kind == "paid":
                given["gclid"] = f"Cj0K{rng.getrandbits(40):010x}"
            if rng.random() < 0.5:
                query = "?" + urlencode(given)
            else:  # the SDK sends them separately (context.utmSource ...)
                context_tags = {f"utm{k[4:].capitalize()}": v for k, v in given.items()
                                if k.startswith("utm_")}
        pages = 1 if rng.random() < 0.45 else rng.randint(2, 6)
        previous = None
        for i in range(pages):
            url = SITE + path + (query if i == 0 else "")
            context = dict(base)
            if i == 0:
                if referrer:
                    context["referrer"] = referrer
                context.update(context_tags)
            else:
                context["referrer"] = previous
            events.append(_event(rng, "PageViewed", at, url, context, anonymousId=anonymous,
                                 sessionId=session))
            dwell = min(1800.0, max(1.0, rng.lognormvariate(3.3, 0.9)))
            if rng.random() < 0.85:
                scroll = min(100, int(rng.uniform(5, 60) + dwell * rng.uniform(0.3, 1.5)))
                events.append(_event(rng, "PageEngagement", at + timedelta(seconds=dwell), SITE + path,
                                     {"userAgent": agent},
                                     engagement={"scrollDepth": scroll, "timeOnPageMs": int(dwell * 1000)},
                                     anonymousId=anonymous, sessionId=session))
            previous = SITE + path
            at += timedelta(seconds=dwell + rng.uniform(1, 15))
            path = rng.choice(PAGES)
        at += timedelta(minutes=rng.uniform(45, 480))
    return events


def bot_events(rng: random.Random, agent: str, start: datetime, stats: Stats) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    at = start
    for _ in range(rng.choice((1, 1, 2))):
        stats.sessions["bot"] += 1
        for _ in range(rng.randint(5, 40)):
            events.append(_event(rng, "PageViewed", at, SITE + rng.choice(PAGES), {"userAgent": agent}))
            at += timedelta(seconds=rng.uniform(0.5, 5))
        at += timedelta(hours=rng.uniform(1, 6))
    return events


def scanner_events(rng: random.Random, agent: str, start: datetime, stats: Stats) -> list[dict[str, Any]]:
    stats.sessions["scanner"] += 1
    events = []
    at = start
    for path in rng.sample(SCAN_PATHS, rng.randint(5, min(25, len(SCAN_PATHS)))):
        events.append(_event(rng, "PageViewed", at, SITE + path, {"userAgent": agent}))
        at += timedelta(seconds=rng.uniform(0.1, 1))
    return events


def ip_address(n: int) -> str:
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


def make_group(rng: random.Random, pool: AgentPool, mix: Mix, index: int, batch: int,
               visitors: int) -> tuple[Group, Stats]:
    """``visitors`` visitors behind one address, distinct agents, bodies of exactly ``batch``."""
    stats = Stats(groups=1)
    end = datetime.fromtimestamp(mix.start or time.time(), UTC)
    span = mix.span_hours * 3600
    taken: set[str] = set()
    events: list[dict[str, Any]] = []
    for _ in range(visitors):
        start = end - timedelta(seconds=rng.uniform(0, span))
        draw = rng.random()
        if draw < mix.scanner_share:
            agent = pool.distinct(rng, lambda r: r.choice(pool.scanners), taken)
            stats.visitors["scanner"] += 1
            events += scanner_events(rng, agent, start, stats)
        elif draw < mix.scanner_share + mix.bot_share:
            agent = pool.distinct(rng, lambda r: r.choice(pool.bots), taken)
            stats.visitors["bot"] += 1
            events += bot_events(rng, agent, start, stats)
        else:
            agent = pool.distinct(rng, pool.person, taken)
            stats.visitors["person"] += 1
            events += person_events(rng, agent, start, mix, stats)
        taken.add(agent)
    stats.agents = taken
    events.sort(key=lambda e: e["timestamp"])
    keep = len(events) - len(events) % batch
    stats.dropped_events = len(events) - keep
    events = events[:keep]
    stats.events.update(e["type"] for e in events)
    bodies = [track_body(events[i:i + batch]) for i in range(0, keep, batch)]
    stats.bodies = len(bodies)
    stats.body_bytes = sum(len(b) for b in bodies)
    return Group(ip_address(mix.ip_base + index), bodies, stats), stats


def make_groups(mix: Mix, batch: int, *, events: int | None = None,
                visitors: int | None = None) -> tuple[list[Group], Stats]:
    """Groups until at least ``events`` events, or exactly ``visitors`` visitors."""
    assert (events is None) != (visitors is None)
    rng = random.Random(mix.seed * 7919 + mix.ip_base)
    pool = AgentPool(mix)
    groups: list[Group] = []
    total = Stats()
    left = visitors
    while (events is not None and sum(total.events.values()) < events) or (left is not None and left > 0):
        size = mix.visitors_per_ip if left is None else min(left, mix.visitors_per_ip)
        group, stats = make_group(rng, pool, mix, len(groups), batch, size)
        groups.append(group)
        total.add(stats)
        if left is not None:
            left -= size
    return groups, total


HEAVY_AGENT = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
               "Chrome/131.0.0.0 Safari/537.36")
# name -> (page gap in seconds, pages per session or 0 for one session, idle minutes between sessions)
HEAVY_SHAPES = {
    "long": (10.0, 0, 0.0),  # one long session: a page (and its engagement) every 10 s
    "sessions": (4.0, 60, 31.0),  # 60 pages 4 s apart, 31 min idle: ~41 sessions and ~4,900 events a day
}


def heavy_visitor_events(shape: str, count: int, start: datetime, seed: int,
                         visitor: str | None = None) -> list[dict[str, Any]]:
    """``count`` time-ordered events of one visitor (one agent; the caller sends one address):
    page views each followed by an engagement event, paced as ``HEAVY_SHAPES[shape]``."""
    gap, per_session, idle = HEAVY_SHAPES[shape]
    rng = random.Random(seed)
    context = {"userAgent": HEAVY_AGENT, "locale": "en-US", "country": "DE", "region": "BE", "city": "Berlin"}
    events: list[dict[str, Any]] = []
    at, page = start, 0
    while len(events) < count:
        url = SITE + PAGES[page % len(PAGES)]
        events.append(_event(rng, "PageViewed", at, url, context, anonymousId=visitor or f"heavy-{shape}"))
        events.append(_event(rng, "PageEngagement", at + timedelta(seconds=gap * 0.8), url,
                             {"userAgent": HEAVY_AGENT}, anonymousId=visitor or f"heavy-{shape}",
                             engagement={"scrollDepth": 60, "timeOnPageMs": int(gap * 800)}))
        page += 1
        at += timedelta(seconds=gap)
        if per_session and page % per_session == 0:
            at += timedelta(minutes=idle)
    return events[:count]


# --- the load process ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TrafficSpec:
    """``LoadProcess`` spec: groups of ``mix`` in bodies of ``batch`` events from ``concurrency``
    connections; a window of ``seconds`` after ``warmup`` (sized for ``max_rate`` events/s), or,
    with ``visitors``, exactly that many visitors sent as fast as possible (``seconds`` is then
    only the deadline)."""

    url: str
    key: str
    batch: int
    concurrency: int
    seconds: float
    warmup: float
    max_rate: float
    mix: Mix
    visitors: int | None = None
    client: str = "raw"


@dataclass
class TrafficResult:
    window: float
    latencies: list[float] = field(default_factory=list)  # measured requests, seconds
    accepted: int = 0  # events accepted by measured requests
    warmup_requests: int = 0
    accepted_total: int = 0  # every response, measured or not
    requests_total: int = 0
    bad: int = 0
    first_bad: str | None = None
    statuses: Counter[int] = field(default_factory=Counter)
    pool_exhausted: bool = False
    send_seconds: float = 0.0  # first request sent -> last response (all requests)
    stats: Stats = field(default_factory=Stats)  # of the groups started (the last ones maybe in part)
    pool: Stats = field(default_factory=Stats)  # of everything generated


async def drive(spec: TrafficSpec, groups: list[Group], on_mark: Callable[[str], None]) -> TrafficResult:
    result = TrafficResult(window=spec.seconds)
    parts = urlsplit(spec.url)
    base, target = f"{parts.scheme}://{parts.netloc}", parts.path or "/"
    queue = deque(groups)
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    measure_from = started + spec.warmup
    stop_at = measure_from + spec.seconds
    tasks: list[asyncio.Task[tuple[list[Record], Any]]] = []
    active = 0
    all_sent = asyncio.Event()
    last_response = started

    def check(status: int, payload: bytes) -> tuple[int, str | None]:
        nonlocal last_response
        last_response = time.perf_counter()
        result.requests_total += 1
        result.statuses[status] += 1
        problem: str | None = None
        accepted = 0
        if status != 200:
            problem = f"HTTP {status}: {payload[:300]!r}"
        else:
            try:
                track = orjson.loads(payload)["data"]["track"]
                accepted = int(track["accepted"])
                if accepted != spec.batch:
                    problem = f"accepted {accepted} of {spec.batch}: {track}"
            except (orjson.JSONDecodeError, KeyError, TypeError):
                problem = f"unexpected body: {payload[:300]!r}"
        result.accepted_total += accepted
        if problem:
            result.bad += 1
            result.first_bad = result.first_bad or problem
        return accepted, problem

    def launch() -> None:
        """Start the next group on a new connection (called when a connection's group is done)."""
        nonlocal active
        if not queue:
            result.pool_exhausted = spec.visitors is None
            if active == 0:
                all_sent.set()
            return
        group = queue.popleft()
        result.stats.add(group.stats)
        bodies = iter(group.bodies)
        active += 1

        def next_body() -> bytes | None:
            nonlocal active
            body = next(bodies, None)
            if body is None:
                active -= 1
                launch()
            return body

        now = time.perf_counter()
        tasks.append(loop.create_task(closed_loop(
            url=base, method="POST", target=target,
            headers={"authorization": f"Bearer {spec.key}", "content-type": "application/json",
                     "x-forwarded-for": group.ip},
            client=spec.client,  # type: ignore[arg-type]
            concurrency=1, warmup=max(0.0, measure_from - now), seconds=stop_at - max(now, measure_from),
            next_body=next_body, check=check, on_mark=lambda _: None)))

    async def mark(when: float, label: str) -> None:
        await asyncio.sleep(max(0.0, when - time.perf_counter()))
        on_mark(label)

    marks = [] if spec.visitors else [loop.create_task(mark(measure_from, "measuring")),
                                      loop.create_task(mark(stop_at, "window-end"))]
    for _ in range(spec.concurrency):
        launch()
    if spec.visitors:  # send everything, then stop the idle closed loops (they wait for their window)
        waiter = loop.create_task(all_sent.wait())
        await asyncio.wait([waiter], timeout=max(0.0, stop_at - time.perf_counter()))
        waiter.cancel()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        result.send_seconds = last_response - started
        result.pool_exhausted = bool(queue)  # here: not everything was sent before the deadline
        return result
    done = 0
    while done < len(tasks):  # groups started meanwhile are appended
        batch = tasks[done:]
        outcomes = await asyncio.gather(*batch)
        done += len(batch)
        for records, _ in outcomes:
            for record in records:
                if record.end < measure_from:
                    result.warmup_requests += 1
                elif record.end <= stop_at:
                    result.latencies.append(record.end - record.start)
                    result.accepted += record.value
    await asyncio.gather(*marks)
    result.send_seconds = last_response - started
    return result


def traffic_child(spec: TrafficSpec, conn: Connection) -> None:
    """``LoadProcess`` entry: generate the groups, say ready, wait for go, run, send the result."""
    started = time.perf_counter()
    if spec.visitors is not None:
        groups, stats = make_groups(spec.mix, spec.batch, visitors=spec.visitors)
    else:
        needed = int((spec.seconds + spec.warmup) * spec.max_rate)
        groups, stats = make_groups(spec.mix, spec.batch, events=needed)
    conn.send(("ready", time.perf_counter() - started))
    conn.recv()
    result = run_loop(drive(spec, groups, lambda label: conn.send((label, None))))
    result.pool = stats
    conn.send(("done", result))
    conn.close()


def preview(mix: Mix, batch: int, visitors: int) -> Iterator[dict[str, Any]]:
    """The events of ``visitors`` visitors (for a look at the shape: ``python -c``)."""
    for group in make_groups(mix, batch, visitors=visitors)[0]:
        for body in group.bodies:
            yield from orjson.loads(body)["variables"]["events"]
