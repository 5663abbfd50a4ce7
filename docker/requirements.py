"""The image's requirements: the project's dependencies less the embedded servers it never starts.

The image runs against separate PostgreSQL and Redis servers (docker-compose.yml), so the servers
that ``analytics dev`` and the tests embed (``[tool.analytics.image] leave-out`` in pyproject.toml)
stay out of it. The Dockerfile installs these lines, then the project's wheel with ``--no-deps``.

    python docker/requirements.py pyproject.toml > requirements.txt
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path


def _name(requirement: str) -> str:
    """The normalised project name of a PEP 508 requirement (PEP 503)."""
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    if match is None:
        raise ValueError(f"not a requirement: {requirement!r}")
    return re.sub(r"[-_.]+", "-", match.group(1)).lower()


def image_requirements(pyproject: Path) -> list[str]:
    config = tomllib.loads(pyproject.read_text())
    dependencies: list[str] = config["project"]["dependencies"]
    leave_out = {_name(n) for n in config["tool"]["analytics"]["image"]["leave-out"]}
    unknown = leave_out - {_name(d) for d in dependencies}
    if unknown:  # a renamed or removed dependency would otherwise slip back into the image
        raise SystemExit(f"leave-out names no dependency: {', '.join(sorted(unknown))}")
    return [d for d in dependencies if _name(d) not in leave_out]


if __name__ == "__main__":
    print("\n".join(image_requirements(Path(sys.argv[1] if len(sys.argv) > 1 else "pyproject.toml"))))
