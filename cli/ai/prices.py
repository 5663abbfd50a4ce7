"""``analytics prices set|list|sync``: the tenant's model prices (setModelPrice, modelPrices,
syncModelPrices)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from cli.ai.reading import Model
from cli.common import DataDir, console
from cli.connection import Key, Profile, Url
from cli.output import Section, emit
from cli.reporting import AsJson, Export, Server, open_report

prices_app = typer.Typer(
    help="Model prices: list the price table, set your own price of a model, sync the library's.",
    no_args_is_help=True,
)
PRICE_OPTIONS = ("input", "output", "cache_read", "cache_write", "reasoning")


def _price(name: str) -> Any:
    return typer.Option(None, f"--{name.replace('_', '-')}", help=f"USD per million {name} tokens.")


@prices_app.command("set")
def prices_set(
    provider: str = typer.Option(..., "--provider", help="As events send it (ai.provider)."),
    model: str = typer.Option(..., "--model", help="As events send it (ai.model)."),
    effective_from: str = typer.Option(..., "--from", help="ISO date (UTC) or date-time with offset."),
    input: str | None = _price("input"),
    output: str | None = _price("output"),
    cache_read: str | None = _price("cache_read"),
    cache_write: str | None = _price("cache_write"),
    reasoning: str | None = _price("reasoning"),
    above_input_tokens: int = typer.Option(
        0,
        "--above-input-tokens",
        help="A tier: the price of requests whose input (uncached + cache read + write) exceeds this.",
    ),
    as_json: bool = AsJson,
    url: str | None = Url,
    key: str | None = Key,
    profile: str | None = Profile,
    data_dir: Path | None = DataDir,
) -> None:
    """Set your price of a model from --from on (a custom model or an override of the library's): the
    days already rolled up from then on are re-priced by the worker."""
    report = open_report(Server(url, key, profile, data_dir))
    given = {
        "input": input,
        "output": output,
        "cacheRead": cache_read,
        "cacheWrite": cache_write,
        "reasoning": reasoning,
    }
    rows = report.client.run(
        "CliSetModelPrice",
        {
            "input": {
                "provider": provider,
                "model": model,
                "effectiveFrom": effective_from,
                "aboveInputTokens": above_input_tokens,
                **{k: v for k, v in given.items() if v is not None},
            }
        },
    )["setModelPrice"]
    result = {"tenant": report.tenant, "prices": rows}
    if as_json:
        emit(console, heading="", payload=result, as_json=True, export=None, sections=[])
    else:
        emit(
            console,
            heading=f"prices of {provider}/{model} for {report.tenant}",
            payload=result,
            as_json=False,
            export=None,
            sections=[Section("prices", rows)],
        )


@prices_app.command("list")
def prices_list(
    provider: str | None = typer.Option(None, "--provider"),
    model: str | None = Model,
    as_json: bool = AsJson,
    export: Path | None = Export,
    url: str | None = Url,
    key: str | None = Key,
    profile: str | None = Profile,
    data_dir: Path | None = DataDir,
) -> None:
    """The price table: the library's prices of the models seen and your own, with their start."""
    report = open_report(Server(url, key, profile, data_dir))
    rows = report.tenant_data("CliModelPrices", {"provider": provider, "model": model})["modelPrices"]
    emit(
        console,
        heading=f"model prices of {report.tenant}",
        payload={"tenant": report.tenant, "prices": rows},
        as_json=as_json,
        export=export,
        sections=[Section("prices", rows)],
    )


@prices_app.command("sync")
def prices_sync(
    as_json: bool = AsJson,
    url: str | None = Url,
    key: str | None = Key,
    profile: str | None = Profile,
    data_dir: Path | None = DataDir,
) -> None:
    """Bring the library's prices in your table up to the genai-prices release the server runs (your own
    prices are kept and still win); the days a change covers are re-priced by the worker."""
    report = open_report(Server(url, key, profile, data_dir))
    result = {"tenant": report.tenant, **report.client.run("CliSyncModelPrices", {})["syncModelPrices"]}
    rows = [{"figure": k, "value": v} for k, v in result.items() if k not in ("tenant", "daysRepriced")]
    rows.append({"figure": "daysRepriced", "value": len(result["daysRepriced"])})
    emit(
        console,
        heading=f"price sync for {report.tenant}",
        payload=result,
        as_json=as_json,
        export=None,
        sections=[Section("prices", rows)],
    )
