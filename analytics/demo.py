"""Realistic demo data: several weeks of users moving through tours (with a visible drop-off) and
of site traffic (visitors from many sources, crawlers, a scanner and a script)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from analytics.ingest.details import Capsule, Engagement, EventContext
from analytics.ingest.events import EventIn

_NAMESPACE = uuid.UUID("6f1d7c0e-2a53-4a4e-9b0f-6b7a1c2d3e4f")


@dataclass(frozen=True)
class DemoTour:
    id: str
    title: str
    steps: tuple[tuple[str, str], ...]  # (title, selector)
    continue_rates: tuple[float, ...]  # chance to go on from step i to i+1
    daily_starters: int
    broken_step: int | None = None  # a step whose target is sometimes missing


DEMO_TOURS = (
    DemoTour("onboarding-welcome", "Welcome to the workspace",
             (("Welcome", "#welcome"), ("Navigate to settings", "nav .settings"),
              ("Click the integrations tab", "#integrations-tab"), ("Configure a webhook", "#webhook-form"),
              ("Complete", "#done")),
             (0.90, 0.89, 0.56, 0.78), 60, broken_step=3),
    DemoTour("reports-tour", "Build your first report",
             (("Open reports", "#reports"), ("Pick a metric", ".metric-picker"),
              ("Save the report", "button.save")), (0.82, 0.74), 35),
    DemoTour("billing-setup", "Set up billing",
             (("Billing overview", "#billing"), ("Add a card", "#card-form"),
              ("Choose a plan", ".plans"), ("Confirm", "#confirm")), (0.7, 0.4, 0.9), 20, broken_step=1),
    DemoTour("new-dashboard", "What's new in dashboards",
             (("Intro", "#intro"), ("Filters", ".filters"), ("Sharing", "#share")), (0.95, 0.9), 45),
)


def _event(key: str, kind: str, at: datetime, user: str, tour: DemoTour, **extra: object) -> EventIn:
    return EventIn(id=str(uuid.uuid5(_NAMESPACE, key)), type=kind,
                   timestamp=at.isoformat(), user_id=user, tour_id=tour.id,
                   url="https://app.example.com/" + tour.id, **extra)  # type: ignore[arg-type]


def demo_events(*, days: int, tz: ZoneInfo, now: datetime | None = None, seed: int = 7) -> Iterator[EventIn]:
    """Deterministic events for ``days`` local days up to now.

    Every journey draws from its own generator seeded by its key, so an event has the same id and
    timestamp on every run: reloading later adds only the events that have happened since.
    """
    now = now or datetime.now(UTC)
    today = now.astimezone(tz).date()
    for offset in range(days, -1, -1):
        day = today - timedelta(days=offset)
        weekday_factor = 0.55 if day.weekday() >= 5 else 1.0
        for tour in DEMO_TOURS:
            day_rng = random.Random(f"{seed}:{day.isoformat()}:{tour.id}")
            starters = int(tour.daily_starters * weekday_factor * day_rng.uniform(0.8, 1.2))
            for n in range(starters):
                key = f"{day}:{tour.id}:{n}"
                yield from (e for e in _journey(key, random.Random(f"{seed}:{key}"), day, tz, tour)
                            if datetime.fromisoformat(e.timestamp) <= now)


def _journey(key: str, rng: random.Random, day: date, tz: ZoneInfo, tour: DemoTour) -> Iterator[EventIn]:
    """One person's way through a tour: steps until they finish, give up or restart."""
    user = f"user-{rng.randrange(5000)}"
    at = datetime.combine(day, time(8), tzinfo=tz) + timedelta(minutes=rng.randrange(12 * 60))
    yield _event(key + ":start", "TourStarted", at, user, tour)
    step = 0
    while True:
        at += timedelta(seconds=rng.randrange(5, 90))
        _, selector = tour.steps[step]
        if step == tour.broken_step and rng.random() < 0.08:
            yield _event(f"{key}:miss:{step}", "target_not_found", at, user, tour,
                         step_index=step, selector=selector)
        yield _event(f"{key}:view:{step}", "StepViewed", at, user, tour, step_index=step)
        if step == len(tour.steps) - 1:
            yield _event(f"{key}:done:{step}", "StepCompleted", at, user, tour, step_index=step)
            yield _event(f"{key}:complete", "TourCompleted", at, user, tour)
            break
        if rng.random() > tour.continue_rates[step]:
            if rng.random() < 0.7:
                yield _event(f"{key}:dismiss", "TourDismissed", at, user, tour, step_index=step)
            if rng.random() < 0.1:
                yield _event(f"{key}:restart", "TourRestarted",
                             at + timedelta(minutes=5), user, tour)
            break
        yield _event(f"{key}:done:{step}", "StepCompleted", at, user, tour, step_index=step)
        step += 1


# --- Site traffic: page views of visitors and bots, for sessions, traffic sources and bot reports ---

_BROWSERS = (  # (agent with a {build} slot so that visitors differ, weight)
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/124.0.{build}.91 Safari/537.36", 34),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.{build} Safari/605.1.15", 14),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0.{build}", 8),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/124.0.{build}.60 Safari/537.36 Edg/124.0.2478.51", 8),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.4 Mobile/15E{build} Safari/604.1", 20),
    ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/124.0.{build}.82 Mobile Safari/537.36", 12),
    ("Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.4 Mobile/15E{build} Safari/604.1", 4),
)
_SOURCES = (  # (referrer, landing query, weight)
    (None, "", 30),
    ("https://www.google.com/", "", 28),
    ("https://duckduckgo.com/", "", 4),
    ("https://t.co/x8Yz", "", 7),
    ("https://www.linkedin.com/feed/", "", 6),
    (None, "?utm_source=newsletter&utm_medium=email&utm_campaign=may_release", 9),
    ("https://www.google.com/", "?utm_source=google&utm_medium=cpc&utm_campaign=onboarding_tours", 8),
    ("https://news.ycombinator.com/", "", 5),
    ("https://partner-blog.example.org/best-tools", "", 3),
)
_PLACES = (("US", "CA", "San Francisco", 30), ("US", "NY", "New York", 14), ("DE", "BE", "Berlin", 12),
           ("GB", "ENG", "London", 11), ("FR", "IDF", "Paris", 7), ("IN", "KA", "Bengaluru", 9),
           ("BR", "SP", "São Paulo", 6), ("JP", "13", "Tokyo", 5), ("CA", "ON", "Toronto", 6))
_SITE = "https://www.example.com"
_PAGES = ("/", "/pricing", "/features", "/docs", "/docs/getting-started", "/blog/onboarding-tours",
          "/blog/measuring-funnels", "/changelog", "/signup", "/customers")
_CRAWLERS = ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
             "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; "
             "+https://openai.com/gptbot)",
             "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
             "python-requests/2.31.0")
_SCAN_PATHS = ("/.env", "/wp-admin/setup-config.php", "/phpmyadmin/", "/.git/config")


def demo_traffic(*, days: int, tz: ZoneInfo, now: datetime | None = None,
                 seed: int = 7) -> Iterator[tuple[datetime, list[EventIn]]]:
    """Page views and engagement of each local day, as (the day's noon in UTC, events): visitors
    from a realistic mix of browsers, sources and places, plus crawlers, a scanner and a fast
    script. Ids and timestamps are the same on every run, like :func:`demo_events`."""
    now = now or datetime.now(UTC)
    today = now.astimezone(tz).date()
    for offset in range(days, -1, -1):
        day = today - timedelta(days=offset)
        rng = random.Random(f"{seed}:traffic:{day.isoformat()}")
        visitors = int(90 * (0.6 if day.weekday() >= 5 else 1.0) * rng.uniform(0.8, 1.2))
        events: list[EventIn] = []
        for n in range(visitors):
            events.extend(_visit(f"{day}:visit:{n}", random.Random(f"{seed}:{day}:visit:{n}"), day, tz))
        for n, agent in enumerate(_CRAWLERS):
            start = datetime.combine(day, time(2 + n), tzinfo=tz)
            events.extend(_page(f"{day}:crawl:{n}:{i}", start + timedelta(seconds=3 * i), agent,
                                _PAGES[i % len(_PAGES)]) for i in range(8 + 2 * n))
        if day.toordinal() % 3 == 0:
            start = datetime.combine(day, time(4, 30), tzinfo=tz)
            events.extend(_page(f"{day}:scan:{i}", start + timedelta(seconds=i), "Mozilla/5.0 zgrab/0.x",
                                path) for i, path in enumerate(_SCAN_PATHS))
        if day.weekday() == 2:  # a headful script clicking through the site twice a second
            start = datetime.combine(day, time(23, 10), tzinfo=tz)
            agent = _BROWSERS[0][0].format(build=6367)
            events.extend(_page(f"{day}:script:{i}", start + timedelta(milliseconds=500 * i), agent,
                                _PAGES[i % len(_PAGES)]) for i in range(90))
        yield (datetime.combine(day, time(12), tzinfo=UTC),
               [e for e in events if datetime.fromisoformat(e.timestamp) <= now])


def _visit(key: str, rng: random.Random, day: date, tz: ZoneInfo) -> Iterator[EventIn]:
    agent = rng.choices([a for a, _ in _BROWSERS], [w for _, w in _BROWSERS])[0].format(
        build=rng.randrange(1000, 9999))
    referrer, query = rng.choices([(r, q) for r, q, _ in _SOURCES], [w for *_, w in _SOURCES])[0]
    country, region, city = rng.choices([p[:3] for p in _PLACES], [p[3] for p in _PLACES])[0]
    at = datetime.combine(day, time(7), tzinfo=tz) + timedelta(minutes=rng.randrange(15 * 60))
    pages = 1 if rng.random() < 0.38 else rng.randrange(2, 7)
    path = rng.choice(_PAGES[:6])
    for i in range(pages):
        place = (referrer, country, region, city) if i == 0 else ()
        yield _page(f"{key}:{i}", at, agent, path + (query if i == 0 else ""), place)
        seconds = int(rng.lognormvariate(3.3, 0.9))
        scroll = min(100, int(rng.uniform(5, 60) + seconds * rng.uniform(0.3, 1.5)))
        at += timedelta(seconds=seconds)
        yield EventIn(id=str(uuid.uuid5(_NAMESPACE, f"{key}:{i}:engaged")), type="PageEngagement",
                      timestamp=at.isoformat(), url=_SITE + path,
                      context=EventContext(user_agent=agent),
                      engagement=Engagement(scroll_depth=scroll, time_on_page_ms=seconds * 1000))
        at += timedelta(seconds=rng.randrange(2, 20))
        path = rng.choice(_PAGES)
    if rng.random() < 0.3:
        yield from _capsule_visit(key, rng, at, agent)


# Content capsules on the site: an assistant that answers pricing questions and a product video.
_CAPSULES = (("pricing-assistant", 0.6), ("product-video", 0.4))
_ASSETS = {"pricing-assistant": (("plans.pdf", "document"), ("security-whitepaper.pdf", "document")),
           "product-video": (("tour-2min.mp4", "video"), ("setup-walkthrough.mp4", "video"))}
_CTAS = (("start-trial", "button"), ("book-demo", "link"))


def _capsule_visit(key: str, rng: random.Random, at: datetime, agent: str) -> Iterator[EventIn]:
    """One visitor's time with a capsule: a view, maybe a conversation, documents or videos, a
    call-to-action and a conversion, the time spent, or a dismissal."""
    content = rng.choices([c for c, _ in _CAPSULES], [w for _, w in _CAPSULES])[0]
    made = 0

    def capsule_event(kind: str, **fields: object) -> EventIn:
        nonlocal made, at
        made += 1
        at += timedelta(seconds=rng.randrange(5, 60))
        return EventIn(id=str(uuid.uuid5(_NAMESPACE, f"{key}:capsule:{made}")), type=kind,
                       timestamp=at.isoformat(), anonymous_id=f"anon:{key}", content_id=content,
                       url=_SITE + "/pricing",
                       context=EventContext(user_agent=agent), **fields)  # type: ignore[arg-type]

    yield capsule_event("ContentViewed")
    if rng.random() < 0.15:
        yield capsule_event("ContentDismissed")
        return
    seconds = 0
    if content == "pricing-assistant" and rng.random() < 0.7:
        conversation = f"{key}:chat"
        yield capsule_event("ConversationMessage",
                            capsule=Capsule(conversation_id=conversation, role="assistant"))
        for turn in range(1, rng.choice((1, 1, 2, 2, 3, 4)) + 1):
            yield capsule_event("ConversationMessage",
                                capsule=Capsule(conversation_id=conversation, role="user", turn=turn))
            yield capsule_event("ConversationMessage",
                                capsule=Capsule(conversation_id=conversation, role="assistant", turn=turn))
            seconds += rng.randrange(20, 90)
    for asset, kind in _ASSETS[content]:
        if rng.random() < 0.35:
            yield capsule_event("ContentAssetViewed", capsule=Capsule(asset_id=asset, asset_kind=kind))
            if kind == "video" and rng.random() < 0.45:
                yield capsule_event("VideoCompleted", capsule=Capsule(asset_id=asset))
            seconds += rng.randrange(30, 150)
    if rng.random() < 0.25:
        cta, cta_type = rng.choice(_CTAS)
        yield capsule_event("ContentCtaClicked", capsule=Capsule(cta_id=cta, cta_type=cta_type))
        if rng.random() < 0.5:
            yield capsule_event("ContentConverted", capsule=Capsule(cta_id=cta, cta_type=cta_type))
    yield capsule_event("ContentEngagement", engagement=Engagement(
        time_on_page_ms=(seconds + rng.randrange(10, 60)) * 1000, scroll_depth=rng.randrange(20, 100)))


def _page(key: str, at: datetime, agent: str, path: str, place: tuple[str | None, ...] = ()) -> EventIn:
    """A page view; ``place`` is (referrer, country, region, city) on a visit's first page."""
    referrer, country, region, city = place or (None, None, None, None)
    return EventIn(id=str(uuid.uuid5(_NAMESPACE, key)), type="PageViewed", timestamp=at.isoformat(),
                   url=_SITE + path, context=EventContext(user_agent=agent, referrer=referrer,
                                                          country=country, region=region, city=city))
