"""``python -m cli``: the ``analytics`` command."""

from cli.main import main

main()
