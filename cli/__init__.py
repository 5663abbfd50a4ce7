"""The ``analytics`` command line, an adapter beside ``api`` and ``workers``: server, admin and reports."""
