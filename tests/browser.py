"""Headless Chromium for the browser tests: whether it can run here, and one node script driving it
(playwright-core from tests/js) while the suite's API keeps answering on this event loop."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest

SCRIPTS = Path(__file__).parent / "js"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


async def browser_missing() -> str | None:
    """Why the browser test cannot run here, or None when node, playwright-core and Chromium are present."""
    if not await asyncio.to_thread(Path(CHROMIUM).is_file):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium, or set CHROMIUM)"
    try:
        probe = await asyncio.create_subprocess_exec(
            "node", "-e", "require.resolve('playwright-core')", cwd=SCRIPTS,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    except FileNotFoundError:
        return "node is not installed"
    if await probe.wait() != 0:
        return "playwright-core is not installed (cd tests/js && npm ci)"
    return None


async def require_browser() -> None:
    """Skip (saying why) without a browser, unless ANALYTICS_REQUIRE_BROWSER=1 (CI), which fails."""
    missing = await browser_missing()
    if missing:
        if os.environ.get("ANALYTICS_REQUIRE_BROWSER") == "1":
            pytest.fail(f"ANALYTICS_REQUIRE_BROWSER=1 but {missing}")
        pytest.skip(missing)


async def run_browser_script(script: str, *args: str, env: dict[str, str], hint: str = "") -> Any:
    """Run ``tests/js/<script>`` with node; its last line of output is a JSON report, returned parsed.
    The API runs on this event loop, so the browser is awaited without blocking it."""
    browser = await asyncio.create_subprocess_exec(
        "node", str(SCRIPTS / script), *args, env={**os.environ, "CHROMIUM": CHROMIUM, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        stdout, stderr = await asyncio.wait_for(browser.communicate(), timeout=240)
    except TimeoutError:
        browser.kill()
        await browser.wait()
        pytest.fail(f"the browser script {script} hung {hint}")
    assert browser.returncode == 0, f"{stderr.decode()}\n{hint}\n{stdout.decode()}"
    return json.loads(stdout.decode().strip().splitlines()[-1])
