"""The ``analytics`` command: one Typer app assembled from the server, admin and reporting commands."""

from __future__ import annotations

import typer

from cli import admin, server_commands
from cli.connection import login, logout
from cli.content import content_app
from cli.experiments import experiments_app
from cli.persisted import persisted_app
from cli.sessions import overview, sessions_app, traffic_app

app = typer.Typer(help="GraphQL analytics API with async workers. Server commands (dev, serve, worker, "
                       "migrate, tenants, keys, rollups, persisted) use the database; reporting commands "
                       "(overview, sessions, traffic, content) are GraphQL clients of a server.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
app.registered_commands += server_commands.app.registered_commands
app.add_typer(admin.tenants_app, name="tenants")
app.add_typer(admin.keys_app, name="keys")
app.add_typer(admin.rollups_app, name="rollups")
app.add_typer(persisted_app, name="persisted")
app.command("login")(login)
app.command("logout")(logout)
app.command("overview")(overview)
app.add_typer(sessions_app, name="sessions")
app.add_typer(traffic_app, name="traffic")
app.add_typer(content_app, name="content")
app.add_typer(experiments_app, name="experiments")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
