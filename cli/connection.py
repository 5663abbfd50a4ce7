"""Which server a reporting command talks to: --url/--key, ANALYTICS_URL/ANALYTICS_KEY, a saved profile
(``analytics login``) or, with nothing set, the local ``analytics dev`` and its demo secret key.

Each value is taken from the first of these that has it: the option (or its environment variable),
the profile named by --profile (or ANALYTICS_PROFILE, else the config file's default), the running
``analytics dev`` of the data directory. Profiles live in a TOML file (ANALYTICS_CONFIG, else
``$XDG_CONFIG_HOME/analytics/config.toml``, else ``~/.config/analytics/config.toml``), mode 0600.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from cli.common import USAGE, console, fail, write_private

LOCAL_DEV_URL = "http://127.0.0.1:8000/graphql"

Url = typer.Option(None, "--url", envvar="ANALYTICS_URL", show_envvar=True,
                   help="The API to report on (http://host:port or its /graphql URL).")
Key = typer.Option(None, "--key", envvar="ANALYTICS_KEY", show_envvar=True,
                   help="A secret API key of the tenant to report on.")
Profile = typer.Option(None, "--profile", envvar="ANALYTICS_PROFILE", show_envvar=True,
                       help="A profile saved by `analytics login` (default: the config file's default).")


@dataclass(frozen=True)
class Target:
    """A server and a key, and where they came from (said in errors)."""

    url: str
    key: str
    source: str


def graphql_url(url: str) -> str:
    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise fail(f"--url: {url!r} is not an http:// or https:// URL", USAGE)
    return url if url.endswith("/graphql") else f"{url}/graphql"


def config_path() -> Path:
    if os.environ.get("ANALYTICS_CONFIG"):
        return Path(os.environ["ANALYTICS_CONFIG"])
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "analytics" / "config.toml"


def read_config(path: Path) -> dict[str, Any]:
    """The profiles file: ``default`` and ``[profiles.NAME]`` tables of ``url`` and ``key`` strings."""
    if not path.exists():
        return {}
    try:
        config = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise fail(f"cannot read the profiles in {path}: {exc}; fix or delete the file", USAGE) from None
    profiles = config.get("profiles", {})
    if not isinstance(profiles, dict) or not all(_is_profile(p) for p in profiles.values()):
        raise fail(f"cannot read the profiles in {path}: each [profiles.NAME] needs url and key strings; "
                   "fix or delete the file, or save them again with `analytics login`", USAGE)
    return config


def _is_profile(profile: object) -> bool:
    return isinstance(profile, dict) and all(isinstance(profile.get(k), str) for k in ("url", "key"))


def _toml_string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string (no \ud83d escapes)


def write_config(path: Path, config: dict[str, Any]) -> None:
    """The profiles as TOML, readable by the owner only (the file holds secret keys)."""
    lines = [f"default = {_toml_string(config['default'])}"] if config.get("default") else []
    for name, profile in sorted(config.get("profiles", {}).items()):
        lines += ["", f"[profiles.{_toml_string(name)}]"]
        lines += [f"{k} = {_toml_string(str(v))}" for k, v in sorted(profile.items())]
    write_private(path, "\n".join(lines) + "\n")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise fail(f"cannot read {path}: {exc}; delete it and run `analytics dev` again", USAGE) from None
    if not isinstance(found, dict):
        raise fail(f"cannot read {path}: not a JSON object; delete it and run `analytics dev` again", USAGE)
    return found


def _local_dev(data_dir: Path) -> tuple[str | None, str | None]:
    """The URL a running ``analytics dev`` wrote and the demo secret key of ``data_dir``."""
    url = key = None
    if (data_dir / "dev.json").exists():
        url = _read_json(data_dir / "dev.json").get("url")
    if (data_dir / "demo-keys.json").exists():
        key = _read_json(data_dir / "demo-keys.json").get("secretKey")
        url = url or LOCAL_DEV_URL
    return (url if isinstance(url, str) else None), (key if isinstance(key, str) else None)


def resolve_target(url: str | None, key: str | None, profile: str | None, data_dir: Path | None) -> Target:
    """The server and key to use. A saved key goes only to the URL it was saved with: a --url
    without --key takes the key of the profile or dev server at that same URL, or fails."""
    path = config_path()
    config = read_config(path)
    profiles: dict[str, dict[str, str]] = config.get("profiles", {})
    name = profile or config.get("default")
    if profile and profile not in profiles:
        known = ", ".join(sorted(profiles)) or "none saved yet"
        raise fail(f"--profile: no profile named {profile!r} in {path} (profiles: {known}); save one "
                   "with `analytics login --profile NAME --url URL --key KEY`", USAGE)
    if url and key:
        return Target(graphql_url(url), key, "--url/--key or ANALYTICS_URL/ANALYTICS_KEY")
    saved: list[tuple[str | None, str | None, str]] = []
    if name in profiles:
        saved.append((profiles[name]["url"], profiles[name]["key"], f"profile {name!r} in {path}"))
    if not profile:
        from analytics.settings import load_settings

        where = (data_dir or load_settings().data_dir).resolve()
        saved.append((*_local_dev(where), f"the local `analytics dev` in {where}"))
    for saved_url, saved_key, source in saved:
        if not (saved_url and saved_key):
            continue
        if url is None:  # the saved server, with the key given (--key) or saved with it
            return Target(graphql_url(saved_url), key or saved_key,
                          f"--key and the URL of {source}" if key else source)
        if graphql_url(saved_url) == graphql_url(url):
            return Target(graphql_url(url), saved_key, f"--url and the key of {source}")
    if url:
        raise fail("--url given without --key (or ANALYTICS_KEY), and no saved profile or dev server has "
                   f"a key for {graphql_url(url)}: pass --key", USAGE)
    raise fail("no server to report on: pass --url and --key (or set ANALYTICS_URL and ANALYTICS_KEY), save "
               "a profile with `analytics login`, or run `analytics dev` in this folder (or pass --data-dir)",
               USAGE)


def login(url: str = typer.Option(..., "--url", help="The API (http://host:port or its /graphql URL)."),
          key: str = typer.Option(..., "--key", help="A secret API key of the tenant."),
          profile: str = typer.Option("default", "--profile", help="Name to save the server and key under."),
          default: bool = typer.Option(True, "--default/--no-default",
                                       help="Make this the profile used when none is named.")) -> None:
    """Check a server and key, then save them as a profile for the reporting commands (mode 0600)."""
    from cli.client import GraphQLClient

    target = Target(graphql_url(url), key, "--url/--key")
    tenant = GraphQLClient(target).run("CliTenant", {})["tenant"]
    path = config_path()
    config = read_config(path)
    config.setdefault("profiles", {})[profile] = {"url": target.url, "key": key}
    if default or not config.get("default"):
        config["default"] = profile
    write_config(path, config)
    console.print(f"profile [bold]{profile}[/bold] saved in {path}: tenant {tenant['name']} "
                  f"({tenant['timezone']}) at {target.url}"
                  + (" (the default)" if config["default"] == profile else ""), highlight=False)


def logout(profile: str = typer.Option("default", "--profile", help="The profile to forget.")) -> None:
    """Forget a saved profile (its key is removed from the config file)."""
    path = config_path()
    config = read_config(path)
    if profile not in config.get("profiles", {}):
        raise fail(f"--profile: no profile named {profile!r} in {path}", USAGE)
    del config["profiles"][profile]
    if config.get("default") == profile:
        config.pop("default")
    write_config(path, config)
    console.print(f"profile {profile} removed from {path}", highlight=False)
