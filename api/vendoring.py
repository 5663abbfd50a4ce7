"""Vendored npm files for the pages the API serves (GraphiQL, the dashboard): fetch the pinned
tarballs with ``npm pack`` (registry integrity checked by npm), copy the listed files byte for byte,
record their sha256 in ``static/VERSIONS``, and check the files on disk against it.

Each page's ``vendor.py`` lists its files and runs :meth:`Vendored.main`:
``python -m api.<page>.vendor`` refreshes, ``--check`` only verifies. To upgrade, change a pin, run
it and commit the result.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class VendoredFile:
    name: str  # the file's name in static/
    package: str  # exact npm spec, name@version
    member: str  # the file's path inside the npm tarball


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def npm_pack(spec: str, into: Path) -> tuple[Path, str]:
    """Download one tarball from the registry; returns its path and npm's integrity string."""
    out = subprocess.run(["npm", "pack", spec, "--json", "--pack-destination", str(into)],
                         check=True, capture_output=True, text=True).stdout
    packed = json.loads(out)[0]
    return into / packed["filename"], str(packed["integrity"])


@dataclass(frozen=True)
class Vendored:
    module: str  # the page's vendor module, as run with ``python -m``
    static_dir: Path
    files: tuple[VendoredFile, ...]

    @property
    def versions_file(self) -> Path:
        return self.static_dir / "VERSIONS"

    def vendor(self) -> None:
        lines = [f"# Vendored by `python -m {self.module}`: byte-identical copies of files in the npm "
                 "tarballs.\n# file  package  tarball-member  sha256  tarball-integrity\n"]
        with tempfile.TemporaryDirectory(prefix="vendor-") as scratch:
            tarballs: dict[str, tuple[Path, str]] = {}
            for item in self.files:
                if item.package not in tarballs:
                    tarballs[item.package] = npm_pack(item.package, Path(scratch))
                tarball, integrity = tarballs[item.package]
                with tarfile.open(tarball) as archive:
                    source = archive.extractfile(item.member)
                    if source is None:
                        raise SystemExit(f"{item.package}: {item.member} is not a regular file")
                    target = self.static_dir / item.name
                    target.write_bytes(source.read())
                digest = sha256_of(target)
                lines.append(f"{item.name}  {item.package}  {item.member}  {digest}  {integrity}\n")
        self.versions_file.write_text("".join(lines))
        total = sum((self.static_dir / item.name).stat().st_size for item in self.files)
        print(f"vendored {len(self.files)} files, {total} bytes, into {self.static_dir}")

    def recorded_versions(self) -> dict[str, tuple[str, str]]:
        """File name -> (package, sha256) as written in VERSIONS."""
        recorded = {}
        for line in self.versions_file.read_text().splitlines():
            if line and not line.startswith("#"):
                name, package, _member, digest, _integrity = line.split()
                recorded[name] = (package, digest)
        return recorded

    def check(self) -> list[str]:
        """Problems with the vendored files (empty when every file matches VERSIONS and the pins)."""
        recorded = self.recorded_versions()
        problems = [f"{name} is recorded in VERSIONS but not pinned in vendor.py"
                    for name in recorded.keys() - {item.name for item in self.files}]
        for item in self.files:
            path = self.static_dir / item.name
            if item.name not in recorded:
                problems.append(f"{item.name} is missing from VERSIONS")
            elif recorded[item.name][0] != item.package:
                problems.append(
                    f"{item.name} is recorded as {recorded[item.name][0]}, pinned as {item.package}")
            elif not path.is_file():
                problems.append(f"{item.name} is missing from {self.static_dir}")
            elif sha256_of(path) != recorded[item.name][1]:
                problems.append(f"{item.name} differs from the sha256 recorded in VERSIONS")
        return problems

    def main(self, argv: list[str]) -> int:
        if argv == ["--check"]:
            problems = self.check()
            for problem in problems:
                print(problem, file=sys.stderr)
            return 1 if problems else 0
        if argv:
            print(f"usage: python -m {self.module} [--check]", file=sys.stderr)
            return 2
        self.vendor()
        return 0
