"""The ``analytics`` command: one Typer app assembled from the server, admin and reporting commands."""

from __future__ import annotations

import typer

from cli import admin, server_commands
from cli.ai import agents_app, conversations_app, costs_app, prices_app, requests_app, tools_app
from cli.bots import bots_app
from cli.connection import login, logout
from cli.content import content_app
from cli.events import events_app
from cli.experiments import experiments_app
from cli.features import features_app, usage
from cli.funnels import funnels_app
from cli.persisted import persisted_app
from cli.segments import segments_app
from cli.sessions import overview, sessions_app, traffic_app
from cli.users import users_app

app = typer.Typer(help="GraphQL analytics API with async workers. Server commands (dev, serve, worker, "
                       "migrate, tenants, keys, rollups, persisted) use the database, bots its lists; "
                       "every other command is a report, a GraphQL client of a running server.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
app.registered_commands += server_commands.app.registered_commands
app.add_typer(admin.tenants_app, name="tenants")
app.add_typer(admin.keys_app, name="keys")
app.add_typer(admin.rollups_app, name="rollups")
app.add_typer(bots_app, name="bots")
app.add_typer(persisted_app, name="persisted")
app.command("login")(login)
app.command("logout")(logout)
app.command("overview")(overview)
app.add_typer(sessions_app, name="sessions")
app.add_typer(traffic_app, name="traffic")
app.add_typer(content_app, name="content")
app.add_typer(segments_app, name="segments")
app.add_typer(features_app, name="features")
app.command("usage")(usage)
app.add_typer(events_app, name="events")
app.add_typer(funnels_app, name="funnels")
app.add_typer(users_app, name="users")
app.add_typer(costs_app, name="costs")
app.add_typer(agents_app, name="agents")
app.add_typer(tools_app, name="tools")
app.add_typer(requests_app, name="requests")
app.add_typer(conversations_app, name="conversations")
app.add_typer(prices_app, name="prices")
app.add_typer(experiments_app, name="experiments")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
