"""The dashboard's vendored uPlot (``static/``, checked against ``static/VERSIONS``; see api.vendoring).

``python -m api.dashboard.vendor`` refreshes it from the pin below; ``--check`` only verifies.
"""

from __future__ import annotations

import sys
from pathlib import Path

from api.vendoring import Vendored, VendoredFile

STATIC_DIR = Path(__file__).parent / "static"

VENDORED = Vendored("api.dashboard.vendor", STATIC_DIR, (
    VendoredFile("uPlot.esm.js", "uplot@1.6.32", "package/dist/uPlot.esm.js"),
    VendoredFile("uPlot.min.css", "uplot@1.6.32", "package/dist/uPlot.min.css"),
    VendoredFile("uPlot.LICENSE", "uplot@1.6.32", "package/LICENSE"),
))
check = VENDORED.check

if __name__ == "__main__":
    raise SystemExit(VENDORED.main(sys.argv[1:]))
