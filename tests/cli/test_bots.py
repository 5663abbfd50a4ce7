"""``analytics bots``: the lists' versions as installed, and the refresh command within the pins."""

from __future__ import annotations

import json
import shlex
from importlib.metadata import version

from tests.conftest import Servers, cli


def test_lists_name_each_source_with_its_installed_version(servers: Servers) -> None:
    done = cli(servers, "bots", "lists", "--json")
    assert done.returncode == 0, done.stderr
    rows = {row["source"]: row for row in json.loads(done.stdout)}
    assert set(rows) == {"device-detector", "crawler-user-agents", "crawlerdetect"}
    for row in rows.values():
        assert row["version"] == version(row["package"]) and row["patterns"] > 500 and row["skipped"] == 0


def test_refresh_upgrades_within_the_pinned_ranges(servers: Servers) -> None:
    done = cli(servers, "bots", "refresh", "--dry-run")
    assert done.returncode == 0, done.stderr
    command = shlex.split(done.stdout)
    assert command[1:5] == ["-m", "pip", "install", "--upgrade"]
    packages = {arg.split("<")[0].split(">")[0].split("[")[0]: arg for arg in command[5:]}
    assert {"device-detector", "crawler-user-agents", "crawlerdetect", "ua-parser"} <= set(packages)
    assert all("<" in packages[name] for name in ("device-detector", "crawler-user-agents", "crawlerdetect"))
