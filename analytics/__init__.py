"""Analytics domain: events, rollups, stats queries and the plumbing they share.

Time zones come from the ``tzdata`` package (pinned in pyproject.toml), not from the system's files:
day boundaries are computed both here and in PostgreSQL, whose embedded server carries a current
time zone database, and an old system copy disagrees with it (tzdata 2025b still puts British
Columbia on UTC-8 this winter; PostgreSQL and tzdata 2025c+ on UTC-7). Set before any zone is read.
"""

import zoneinfo

zoneinfo.reset_tzpath(to=[])
