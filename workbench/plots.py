"""Figures for the course: the architecture, and the analysis charts of what the pipeline collected.

Every function returns a matplotlib Figure (a notebook shows it; a script can `savefig` it). Each is drawn for a
notebook column of 1,000 pixels: at most `WIDTH` inches wide at the inline backend's 100 dpi, so that the notebook
shows it at its size, and no text smaller than `SMALLEST` points (tests/notebooks/test_legibility.py draws them all).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

KIND_COLORS = {"stock": "#1f77b4", "crypto": "#ff7f0e", "fx": "#2ca02c"}
WIDTH = 9.6  # inches: 960 pixels at 100 dpi, with room for what a tight crop adds
SMALLEST = 9  # points: tick labels, legends and notes, never smaller

# (x, y, label, colour) of each box of the architecture diagram, in axis units (0..12 wide, 0..7.6 high); the gap
# between ingest and the topic leaves room for the "2. publish" label beside its arrow, not on it.
_BOXES: dict[str, tuple[float, float, str, str]] = {
    "rule": (0.1, 3.2, "EventBridge\nrate(1 minute)\none rule per source", "#f2e6ff"),
    "ingest": (2.25, 3.2, "ingest Lambda\n(per source)\nfetch -> raw CSV", "#fff2cc"),
    "s3raw": (2.25, 5.6, "S3 raw/<source>/\nYYYY/MM/DD/\nHHMM.csv", "#dbeafe"),
    "topic": (5.3, 3.2, "SNS FIFO topic\nattribute\nsource=...", "#fde2e4"),
    "q_yahoo": (7.8, 5.4, "SQS FIFO\nyahoo_finance", "#fde2e4"),
    "q_cmc": (7.8, 3.2, "SQS FIFO\ncoinmarketcap", "#fde2e4"),
    "q_oxr": (7.8, 1.0, "SQS FIFO\nopenexchangerates", "#fde2e4"),
    "sink_yahoo": (10.1, 5.4, "process Lambda\n-> Snowflake\n1-minute bars", "#e2f0d9"),
    "sink_cmc": (10.1, 3.2, "process Lambda\n-> S3 processed/\nParquet", "#e2f0d9"),
    "sink_oxr": (10.1, 1.0, "process Lambda\n-> SQL Server\nrates", "#e2f0d9"),
}
_BOX_W, _BOX_H = 1.85, 1.3
_ARROWS = [
    ("rule", "ingest", ""),
    ("ingest", "s3raw", "1. write"),
    ("ingest", "topic", "2. publish"),
    ("topic", "q_yahoo", ""),
    ("topic", "q_cmc", ""),
    ("topic", "q_oxr", ""),
    ("q_yahoo", "sink_yahoo", ""),
    ("q_cmc", "sink_cmc", ""),
    ("q_oxr", "sink_oxr", ""),
]


def architecture(max_receives: int | None = None) -> Figure:
    """The pipeline on one page: schedule, ingest, raw layer, fan-out, queues (with their DLQs), sinks.

    `max_receives` is the queues' maxReceiveCount (default: the template's)."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    if max_receives is None:
        from workbench.cloudformation.template import Template

        max_receives = int(Template.load().parameters["MaxReceiveCount"])

    fig, ax = plt.subplots(figsize=(WIDTH, 6.2))
    ax.set_xlim(0, 12.1)
    ax.set_ylim(0, 7.6)
    ax.axis("off")
    centres = {}
    for name, (x, y, label, colour) in _BOXES.items():
        ax.add_patch(FancyBboxPatch((x, y), _BOX_W, _BOX_H, boxstyle="round,pad=0.05", fc=colour, ec="#444", lw=1.0))
        ax.text(x + _BOX_W / 2, y + _BOX_H / 2, label, ha="center", va="center", fontsize=SMALLEST)
        centres[name] = (x + _BOX_W / 2, y + _BOX_H / 2)
    for a, b, label in _ARROWS:
        (x1, y1), (x2, y2) = centres[a], centres[b]
        vertical = abs(y1 - y2) > 1 and abs(x1 - x2) < 0.1
        if vertical:
            start, end = (x1, y1 + _BOX_H / 2 + 0.05), (x2, y2 - _BOX_H / 2 - 0.05)
        else:
            start, end = (x1 + _BOX_W / 2 + 0.05, y1), (x2 - _BOX_W / 2 - 0.05, y2)
        ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=14, color="#333", lw=1.2))
        middle = ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2)
        if label and vertical:  # beside the arrow, on its right
            ax.text(middle[0] + 0.12, middle[1], label, fontsize=SMALLEST, ha="left", va="center", weight="bold")
        elif label:  # above the arrow, clear of it
            ax.text(middle[0], middle[1] + 0.12, label, fontsize=SMALLEST, ha="center", va="bottom", weight="bold")
    topic_x = _BOXES["topic"][0] + _BOX_W / 2
    ax.text(topic_x, 3.05, "one subscription per\nqueue, with a filter\npolicy on source", fontsize=SMALLEST,
            ha="center", va="top")  # fmt: skip
    for q in ("q_yahoo", "q_cmc", "q_oxr"):
        x, y = _BOXES[q][0], _BOXES[q][1]
        ax.text(x + _BOX_W / 2, y - 0.12, f"DLQ after {max_receives} receives", fontsize=SMALLEST, ha="center",
                va="top", color="#a33")  # fmt: skip
    ax.text(0.1, 7.45, "market-data-pipeline: one scheduled minute through the pipeline", fontsize=12, weight="bold",
            va="top")  # fmt: skip
    ax.text(0.1, 0.05, "Locally: moto (S3, SNS, SQS), fakesnow (Snowflake), SQLite (SQL Server), and a runtime that\n"
            "calls the same Lambda handlers", fontsize=SMALLEST, color="#555")  # fmt: skip
    fig.tight_layout()
    return fig


def _minutes_axis(ax: Any) -> None:
    """Times as HH:MM (UTC), without the day that would prefix every tick of an intraday window."""
    import matplotlib.dates as mdates

    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))  # type: ignore[no-untyped-call]


def prices(panel: pd.DataFrame, kinds: dict[str, str], title: str = "Intraday prices (rebased to 100)") -> Figure:
    """Every instrument's price rebased to 100 at its first value: one panel per kind, one under the other on the
    same time axis, each with its legend on its right."""
    import matplotlib.pyplot as plt

    groups = [k for k in KIND_COLORS if any(kinds.get(c) == k for c in panel.columns)]
    rows = max(1, len(groups))
    fig, axes = plt.subplots(rows, 1, figsize=(WIDTH, 0.6 + 2.4 * rows), sharex=True, squeeze=False)
    for ax, kind in zip(axes[:, 0], groups, strict=False):
        cols = [c for c in panel.columns if kinds.get(c) == kind]
        rebased = 100 * panel[cols] / panel[cols].bfill().iloc[0]
        for column in cols:
            ax.plot(rebased.index, rebased[column], lw=1.2, label=column)
        ax.set_title(kind, fontsize=10, loc="left")
        ax.set_ylabel("rebased to 100")
        ax.ticklabel_format(axis="y", useOffset=False)  # FX moves in the second decimal: show 99.95, not an offset
        ax.grid(alpha=0.3)
        ax.legend(fontsize=SMALLEST, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    axes[-1, 0].set_xlabel("time (UTC)")
    _minutes_axis(axes[-1, 0])
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def return_distribution(returns: pd.DataFrame, kinds: dict[str, str], bins: int = 40) -> Figure:
    """Histograms of one-minute log returns (in basis points), one per kind, with their standard deviation."""
    import matplotlib.pyplot as plt

    groups = [k for k in KIND_COLORS if any(kinds.get(c) == k for c in returns.columns)]
    fig, axes = plt.subplots(1, max(1, len(groups)), figsize=(WIDTH, 3.4), squeeze=False)
    for ax, kind in zip(axes[0], groups, strict=False):
        values = (returns[[c for c in returns.columns if kinds.get(c) == kind]] * 1e4).stack().dropna()
        ax.hist(values, bins=bins, color=KIND_COLORS[kind], alpha=0.8)
        ax.set_title(f"{kind}: sd {values.std():.1f} bp, n={len(values)}", fontsize=10)
        ax.set_xlabel("1-minute log return (bp)")
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("minutes")
    fig.tight_layout()
    return fig


def volatility(vol: pd.DataFrame, kinds: dict[str, str], window: int) -> Figure:
    """Rolling volatility (annualised, %) per kind of instrument: the median of its series as a line, and the band
    from the lowest to the highest of them, so a dozen series read as three."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(WIDTH, 4.0))
    for kind, colour in KIND_COLORS.items():
        columns = [c for c in vol.columns if kinds.get(c) == kind]
        if not columns:
            continue
        group = 100 * vol[columns]
        ax.fill_between(group.index, group.min(axis=1), group.max(axis=1), color=colour, alpha=0.18, lw=0)
        ax.plot(group.index, group.median(axis=1), color=colour, lw=2, label=f"{kind}: median of {len(columns)}")
    ax.set_xlabel("time (UTC)")
    ax.set_ylabel("annualised volatility (%)")
    ax.set_title(f"Rolling volatility, {window}-minute window (band: lowest to highest series of each kind)",
                 fontsize=10)  # fmt: skip
    _minutes_axis(ax)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=3, fontsize=SMALLEST, frameon=False)
    fig.tight_layout()
    return fig


def intraday_profile(profile: pd.DataFrame, every: str = "30-minute") -> Figure:
    """A session's volatility profile: one row per bucket (its start, UTC), one column per stock, the standard
    deviation of its 1-minute returns in bp; drawn as the median across stocks and the band between the lower and
    upper quartiles."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(WIDTH, 4.0))
    x = profile.index.strftime("%H:%M")
    colour = KIND_COLORS["stock"]
    ax.fill_between(x, profile.quantile(0.25, axis=1), profile.quantile(0.75, axis=1), color=colour, alpha=0.2, lw=0,
                    label="lower to upper quartile")  # fmt: skip
    ax.plot(x, profile.median(axis=1), color=colour, lw=2, marker="o", label=f"median of {profile.shape[1]} stocks")
    ax.set_ylim(bottom=0)
    ax.set_xlabel(f"start of the {every} bucket (UTC)")
    ax.set_ylabel("sd of 1-minute returns (bp)")
    ax.set_title("Intraday volatility profile of one session")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper center", fontsize=SMALLEST, frameon=False)
    fig.tight_layout()
    return fig


def correlation(corr: pd.DataFrame, kinds: dict[str, str]) -> Figure:
    """A heatmap of the correlation of one-minute returns, instruments grouped by kind."""
    import matplotlib.pyplot as plt

    n = len(corr)
    side = min(WIDTH - 1.6, 1.0 + 0.42 * n)  # the matrix, and beside it the colour bar and its label
    fig, ax = plt.subplots(figsize=(side + 1.6, side + 0.4))
    image = ax.imshow(corr.to_numpy(), cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks(range(n), corr.columns, rotation=90, fontsize=SMALLEST)
    ax.set_yticks(range(n), corr.index, fontsize=SMALLEST)
    for label in [*ax.get_xticklabels(), *ax.get_yticklabels()]:
        label.set_color(KIND_COLORS.get(kinds.get(label.get_text(), ""), "black"))
    if n <= 12:  # the values in the cells while a cell is wide enough for one at a legible size
        for i in range(n):
            for j in range(n):
                value = corr.iat[i, j]
                if value == value:
                    ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=SMALLEST)
    fig.colorbar(image, ax=ax, shrink=0.8, label="correlation of 1-minute returns")
    ax.set_title("Cross-asset correlation (stocks blue, crypto orange, FX green)", fontsize=10)
    fig.tight_layout()
    return fig


def candlestick(ohlc: pd.DataFrame, title: str, **kwargs: Any) -> Figure:
    """A candlestick chart (with volume when the frame has it) of a frame indexed by time with OHLC columns."""
    import logging

    import mplfinance as mpf

    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)  # its styles ask for a "semibold" font

    volume = "Volume" in ohlc.columns and bool(ohlc["Volume"].fillna(0).sum() > 0)
    kwargs.setdefault("ylabel", "price (USD)")
    kwargs.setdefault("xlabel", "time (UTC)")
    # mplfinance leaves wide margins, which the notebook's tight crop removes: 10.8 inches draw about 870 pixels.
    size = (WIDTH + 1.2, 5)
    fig, _ = mpf.plot(
        ohlc, type="candle", style="yahoo", volume=volume, title=title, returnfig=True, figsize=size, **kwargs
    )
    return fig  # type: ignore[no-any-return]


def package_sizes(sizes: pd.DataFrame, limit_bytes: int) -> Figure:
    """Each function's code and layer, unzipped, stacked against Lambda's limit (`sizes`: one row per function
    with `function`, `code_unzipped`, `layer_unzipped`, `layer`)."""
    import matplotlib.pyplot as plt

    mb = 1024 * 1024
    fig, ax = plt.subplots(figsize=(WIDTH, max(2.2, 0.5 + 0.55 * len(sizes))))
    names = sizes["function"].tolist()
    layer = sizes["layer_unzipped"] / mb
    code = sizes["code_unzipped"] / mb
    ax.barh(names, layer, color="#4c78a8", label="layer (dependencies)")
    ax.barh(names, code, left=layer, color="#f58518", label="code (pipeline/)")
    for i, (lay, name) in enumerate(zip(layer, sizes["layer"], strict=True)):
        ax.text(lay + code.iloc[i] + 3, i, f"{lay + code.iloc[i]:.0f} MB  ({name})", va="center", fontsize=SMALLEST)
    ax.axvline(limit_bytes / mb, color="#c00", ls="--", lw=1.2)
    limit = ax.get_xaxis_transform()
    ax.text(limit_bytes / mb, 0.03, " 250 MB limit", color="#c00", fontsize=SMALLEST, transform=limit)
    ax.set_xlim(0, limit_bytes / mb * 1.25)
    ax.invert_yaxis()
    ax.set_xlabel("MB unzipped")
    ax.set_title("Each function with its own layer, against Lambda's unzipped limit")
    ax.legend(loc="upper right", fontsize=SMALLEST)
    fig.tight_layout()
    return fig
