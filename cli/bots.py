"""``analytics bots``: the maintained bot lists tier 1 unites, their versions, and refreshing them."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, requires, version

import typer

from cli.common import JsonOut, console, fail

bots_app = typer.Typer(help="The maintained bot lists behind tier-1 bot detection.", no_args_is_help=True)
PROJECT = "analytics-graph"


@bots_app.command("lists")
def lists(as_json: bool = JsonOut) -> None:
    """Each list: the package it comes from, its installed version and the patterns in use."""
    from analytics.traffic.bot_lists import DISTRIBUTIONS, source_counts, source_versions

    versions, counts = source_versions(), source_counts()
    rows = [{"source": source, "package": DISTRIBUTIONS[source], "version": versions[source],
             "patterns": counts[source][0], "translated": counts[source][1], "skipped": counts[source][2]}
            for source in DISTRIBUTIONS]
    if as_json:
        print(json.dumps(rows))
        return
    from cli.output import Section, print_sections

    print_sections(console, "Tier-1 bot lists (translated: look-arounds rewritten for RE2; skipped: "
                            "patterns neither engine takes)", [Section("lists", rows)])


def pinned_requirements() -> list[str]:
    """The bot lists' (and the agent parser's) requirements as this project pins them."""
    from analytics.traffic.bot_lists import DISTRIBUTIONS

    wanted = {*DISTRIBUTIONS.values(), "ua-parser"}
    try:
        declared = requires(PROJECT) or []
    except PackageNotFoundError:
        raise fail(f"{PROJECT} is not installed as a package; run pip install -e . first") from None
    pinned = [r for r in declared if ";" not in r and _name(r) in wanted]
    try:  # the parser's rules, republished monthly, come as a package of their own
        version("ua-parser-builtins")
        pinned.append("ua-parser-builtins")
    except PackageNotFoundError:
        pass
    return pinned


def _name(requirement: str) -> str:
    found = re.match(r"[A-Za-z0-9._-]+", requirement)
    return found.group(0).lower().replace("_", "-") if found else ""


@bots_app.command("refresh")
def refresh(dry_run: bool = typer.Option(False, "--dry-run", help="Print the pip command, run nothing.")
            ) -> None:
    """Upgrade the bot lists and the agent parser to their newest releases within the pinned ranges
    (pip, from PyPI), then show the versions in use. Restart the API and the worker afterwards."""
    command = [sys.executable, "-m", "pip", "install", "--upgrade", *pinned_requirements()]
    if dry_run:
        print(shlex.join(command))
        return
    console.print("upgrading: " + " ".join(command[5:]), highlight=False)
    done = subprocess.run(command, check=False)
    if done.returncode:
        raise fail("pip could not upgrade the lists (see its output above)")
    subprocess.run([sys.executable, "-m", "cli", "bots", "lists"], check=False)
