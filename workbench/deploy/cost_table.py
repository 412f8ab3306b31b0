"""The bill of `workbench.deploy.cost` as a rich table."""

from __future__ import annotations

from rich.table import Table

from workbench.deploy.cost import Bill
from workbench.deploy.prices import PRICES_NOTED, PRICES_REGION


def cost_table(bill: Bill) -> Table:
    measured = "measured durations" if bill.durations_measured else "assumed durations"
    table = Table(title=f"A month of the stack, USD ({PRICES_REGION} prices noted {PRICES_NOTED}; {measured})")
    for column in ("service", "item", "quantity", "per month", "after free tier"):
        table.add_column(column, justify="left" if column in ("service", "item") else "right")
    for line in bill.lines:
        quantity = f"{line.quantity:,.3f}" if not float(line.quantity).is_integer() else f"{int(line.quantity):,}"
        table.add_row(line.service, line.item, f"{quantity} {line.unit}", f"{line.usd:,.2f}",
                      f"{line.usd_after_free_tier:,.2f}")  # fmt: skip
    table.add_section()
    table.add_row("AWS total", "", "", f"{bill.total:,.2f}", f"{bill.total_after_free_tier:,.2f}", style="bold")
    flake = bill.snowflake
    table.add_row(
        "Snowflake",
        f"{flake['warehouse']} warehouse, {flake['loads']:,} loads",
        f"{flake['credits']:,} credits",
        f"{flake['usd']:,.2f}",
        f"at {flake['credit_price_usd']:.2f}/credit",
        style="bold",
    )
    return table
