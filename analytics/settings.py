"""Typed settings read once from the environment; a bad value fails fast naming the variable."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from analytics.ingest.geo import GEO_HEADERS


class SettingsError(ValueError):
    """A configuration variable has a value we cannot use."""


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a whole number") from None
    if value < minimum:
        raise SettingsError(f"{name}={value} must be at least {minimum}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, *, minimum: float = 0.0) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number") from None
    if value < minimum:
        raise SettingsError(f"{name}={value} must be at least {minimum}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name}={raw!r} is not a boolean (use true or false)")


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = (env.get(name) or default).strip().lower()
    if value not in choices:
        raise SettingsError(f"{name}={value!r} must be one of {', '.join(choices)}")
    return value


def redacted_url(url: str) -> str:
    """A server URL without its password (and query), for messages: scheme://user@host:port/path."""
    if "://" not in url:
        return "***"
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # not even a URL: show only its scheme
        return url.partition("://")[0] + "://***"
    user = f"{parts.username}@" if parts.username else ""
    return f"{parts.scheme}://{user}{parts.hostname or 'localhost'}{port}{parts.path}"


def _database_url(raw: str | None) -> str | None:
    if not raw:
        return None
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if raw.startswith(prefix):
            return "postgresql+asyncpg://" + raw[len(prefix) :]
    raise SettingsError(f"DATABASE_URL={redacted_url(raw)!r} must start with postgresql:// or postgres://")


def _redis_url(raw: str | None) -> str | None:
    if not raw:
        return None
    if not raw.startswith(("redis://", "rediss://", "unix://")):
        raise SettingsError(f"REDIS_URL={redacted_url(raw)!r} must start with redis://, rediss:// or unix://")
    return raw


@dataclass(frozen=True)
class ApiLimits:
    """What one GraphQL request may ask for, and how fast one key may ask (README: Limits)."""

    max_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 10_000
    max_cost: int = 20_000
    introspection: bool = True
    persisted_only: bool = False
    apq_ttl_seconds: int = 30 * 86_400
    read_rate: float = 2_000.0       # cost units per second per key
    read_burst: int = 40_000
    ingest_rate: float = 50_000.0    # events per second per key
    ingest_burst: int = 100_000
    cache_control: str = "private, no-cache"


MIN_RAW_RETENTION_DAYS = 7  # the shortest raw retention a tenant may set (analytics.retention)
ROLLUP_CLAIM_EVENTS = 20_000  # events one rollup transaction holds at most (the worker's memory)


@dataclass(frozen=True)
class Settings:
    """Every knob of the product; see the README's configuration table."""

    database_url: str | None
    redis_url: str | None
    data_dir: Path
    app_role: str
    max_body_bytes: int
    max_batch_events: int
    max_future_seconds: int
    default_raw_retention_days: int
    rollup_retention_days: int
    rollup_claim_batches: int
    rollup_claim_events: int
    sweep_interval_seconds: float
    correction_delay_seconds: float
    statement_timeout_ms: int
    key_cache_seconds: float  # api.principals; 0 looks every key up on every request
    db_pool_size: int
    log_level: str
    debug: bool
    limits: ApiLimits = ApiLimits()
    log_format: str = "json"  # json | text (analytics dev: text)
    metrics_token: str | None = None  # bearer token /metrics requires; None: open
    geo_headers: str = "none"  # the proxy whose location headers ingest trusts (analytics.ingest.geo)
    group_commit_events: int = 20  # track batches of a tenant sharing one commit, in events (ingest.service)
    shared_reads: bool = True  # identical concurrent reads share one execution (api.shared_reads)
    rollup_pace_seconds: float = 0.25  # a tenant's small claims this far apart (analytics.rollups.pacing)
    sketch_min_people: int = 1_000  # smaller groups of a day: counted exactly (analytics.rollups.sketches)

    @property
    def sync_database_url(self) -> str | None:
        if self.database_url is None:
            return None
        return self.database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read the settings from ``env`` (the process environment by default)."""
    env = os.environ if env is None else env
    settings = Settings(
        database_url=_database_url(env.get("DATABASE_URL")),
        redis_url=_redis_url(env.get("REDIS_URL")),
        data_dir=Path(env.get("ANALYTICS_DATA_DIR") or ".analytics"),
        app_role=env.get("ANALYTICS_APP_ROLE") or "analytics_app",
        max_body_bytes=_int(env, "ANALYTICS_MAX_BODY_BYTES", 1_048_576, minimum=1024),
        max_batch_events=_int(env, "ANALYTICS_MAX_BATCH_EVENTS", 1000, minimum=1),
        max_future_seconds=_int(env, "ANALYTICS_MAX_FUTURE_SECONDS", 86_400),
        default_raw_retention_days=_int(env, "ANALYTICS_RAW_RETENTION_DAYS", 90, minimum=1),
        rollup_retention_days=_int(env, "ANALYTICS_ROLLUP_RETENTION_DAYS", 760,
                                   minimum=MIN_RAW_RETENTION_DAYS),
        rollup_claim_batches=_int(env, "ANALYTICS_ROLLUP_CLAIM_BATCHES", 200, minimum=1),
        rollup_claim_events=_int(env, "ANALYTICS_ROLLUP_CLAIM_EVENTS", ROLLUP_CLAIM_EVENTS, minimum=1),
        sweep_interval_seconds=_float(env, "ANALYTICS_SWEEP_SECONDS", 1.0, minimum=0.1),
        correction_delay_seconds=_float(env, "ANALYTICS_CORRECTION_DELAY_SECONDS", 30.0),
        statement_timeout_ms=_int(env, "ANALYTICS_STATEMENT_TIMEOUT_MS", 5000, minimum=100),
        key_cache_seconds=_float(env, "ANALYTICS_KEY_CACHE_SECONDS", 30.0),
        db_pool_size=_int(env, "ANALYTICS_DB_POOL_SIZE", 32, minimum=1),
        log_level=(env.get("ANALYTICS_LOG_LEVEL") or "INFO").upper(),
        debug=_bool(env, "ANALYTICS_DEBUG", False),
        limits=_limits(env),
        log_format=_choice(env, "ANALYTICS_LOG_FORMAT", "json", ("json", "text")),
        metrics_token=env.get("ANALYTICS_METRICS_TOKEN") or None,
        geo_headers=_choice(env, "ANALYTICS_GEO_HEADERS", "none", ("none", *GEO_HEADERS)),
        group_commit_events=_int(env, "ANALYTICS_GROUP_COMMIT_EVENTS", 20),
        shared_reads=_bool(env, "ANALYTICS_SHARED_READS", True),
        rollup_pace_seconds=_int(env, "ANALYTICS_ROLLUP_PACE_MS", 250, minimum=0) / 1000,
        sketch_min_people=_int(env, "ANALYTICS_SKETCH_MIN_PEOPLE", 1_000, minimum=1),
    )
    if settings.default_raw_retention_days > settings.rollup_retention_days:
        raise SettingsError(f"ANALYTICS_RAW_RETENTION_DAYS={settings.default_raw_retention_days} must be at "
                            f"most ANALYTICS_ROLLUP_RETENTION_DAYS={settings.rollup_retention_days}")
    if settings.limits.ingest_burst < settings.max_batch_events:
        raise SettingsError(f"ANALYTICS_RATE_INGEST_BURST={settings.limits.ingest_burst} must be at least "
                            f"ANALYTICS_MAX_BATCH_EVENTS={settings.max_batch_events}, or full batches could "
                            "never be sent")
    return settings


def _limits(env: Mapping[str, str]) -> ApiLimits:
    default = ApiLimits()
    limits = ApiLimits(
        max_depth=_int(env, "ANALYTICS_MAX_QUERY_DEPTH", default.max_depth, minimum=2),
        max_aliases=_int(env, "ANALYTICS_MAX_ALIASES", default.max_aliases),
        max_tokens=_int(env, "ANALYTICS_MAX_TOKENS", default.max_tokens, minimum=100),
        max_cost=_int(env, "ANALYTICS_MAX_QUERY_COST", default.max_cost, minimum=1),
        introspection=_bool(env, "ANALYTICS_INTROSPECTION", default.introspection),
        persisted_only=_bool(env, "ANALYTICS_PERSISTED_ONLY", default.persisted_only),
        apq_ttl_seconds=_int(env, "ANALYTICS_APQ_TTL_SECONDS", default.apq_ttl_seconds),
        read_rate=_float(env, "ANALYTICS_RATE_READ_PER_SECOND", default.read_rate, minimum=0.001),
        read_burst=_int(env, "ANALYTICS_RATE_READ_BURST", default.read_burst, minimum=1),
        ingest_rate=_float(env, "ANALYTICS_RATE_INGEST_PER_SECOND", default.ingest_rate, minimum=0.001),
        ingest_burst=_int(env, "ANALYTICS_RATE_INGEST_BURST", default.ingest_burst, minimum=1),
        cache_control=env.get("ANALYTICS_GET_CACHE_CONTROL") or default.cache_control,
    )
    if limits.read_burst < limits.max_cost:
        raise SettingsError(f"ANALYTICS_RATE_READ_BURST={limits.read_burst} must be at least "
                            f"ANALYTICS_MAX_QUERY_COST={limits.max_cost}, or costly queries could never run")
    return limits
