"""GraphiQL's vendored npm files (``static/``, checked against ``static/VERSIONS``; see api.vendoring).

``python -m api.graphiql.vendor`` refreshes them from the pins below; ``--check`` only verifies.
"""

from __future__ import annotations

import sys
from pathlib import Path

from api.vendoring import Vendored, VendoredFile

STATIC_DIR = Path(__file__).parent / "static"

# graphiql 3.8.3 bundles @graphiql/react 0.28.x, which @graphiql/plugin-explorer 3.2.5 expects.
VENDORED = Vendored("api.graphiql.vendor", STATIC_DIR, (
    VendoredFile("react.production.min.js", "react@18.3.1", "package/umd/react.production.min.js"),
    VendoredFile("react-dom.production.min.js", "react-dom@18.3.1",
                 "package/umd/react-dom.production.min.js"),
    VendoredFile("graphiql.min.js", "graphiql@3.8.3", "package/graphiql.min.js"),
    VendoredFile("graphiql.min.css", "graphiql@3.8.3", "package/graphiql.min.css"),
    VendoredFile("plugin-explorer.umd.js", "@graphiql/plugin-explorer@3.2.5", "package/dist/index.umd.js"),
    VendoredFile("plugin-explorer.css", "@graphiql/plugin-explorer@3.2.5", "package/dist/style.css"),
))
check = VENDORED.check

if __name__ == "__main__":
    raise SystemExit(VENDORED.main(sys.argv[1:]))
