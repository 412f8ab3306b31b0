"""`python -m pipeline universe refresh`: the stock universe (pipeline/data/sp500.csv) from the S&P 500
constituents."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from workbench.commands.common import console

universe_app = typer.Typer(no_args_is_help=True, help="The stock universe (pipeline/data/sp500.csv).")


@universe_app.command("refresh")
def universe_refresh(
    from_csv: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="A constituents CSV (Symbol, Security, GICS Sector, ...)"),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="The file to write (default: the shipped universe file)")] = None,
    dry_run: Annotated[bool, typer.Option(help="Show the changes, write nothing")] = False,
) -> None:
    """Update the universe from the S&P 500 constituents (Wikipedia's table, or --from-csv), in Yahoo's spelling."""
    from rich.table import Table

    from pipeline.sources.yahoo_finance import universe as u

    target = out or u.universe_file()
    new = u.read_constituents_csv(from_csv) if from_csv else u.fetch_constituents()
    change = u.compare(u.read_universe_file(target), new)
    table = Table(title=f"S&P 500 universe: {len(new)} constituents from {from_csv or u.WIKIPEDIA_URL}")
    for name in ("change", "symbol", "name", "sector"):
        table.add_column(name)
    for listing in change.added:
        table.add_row("[green]added[/green]", listing.symbol, listing.name, listing.sector)
    for listing in change.removed:
        table.add_row("[red]removed[/red]", listing.symbol, listing.name, listing.sector)
    for before, after in change.changed:
        table.add_row("changed", after.symbol, f"{before.name} -> {after.name}", f"{before.sector} -> {after.sector}")
    if change.empty:
        console.print(f"{target}: up to date ({len(new)} constituents)")
        return
    console.print(table)
    if dry_run:
        console.print("dry run: nothing written")
        return
    u.write_universe_file(new, target)
    console.print(f"{target}: {len(change.added)} added, {len(change.removed)} removed, {len(change.changed)} changed")
