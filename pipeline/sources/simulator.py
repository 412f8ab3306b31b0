"""A deterministic simulated market: the prices behind the simulated twin of every source.

Every price is a pure function of (seed, instrument, minute), never of the minutes asked before, so a replay of
any minute gives the same payload and a run can start anywhere in time:

- an instrument's log price at the start of each calendar year is a random walk over years (one draw per
  (seed, instrument)); within a year, the level at the start of each day is a Brownian bridge between the
  two year levels (one draw per (seed, instrument, year));
- within a day, one-minute steps (one draw per (seed, instrument, day), plus a factor shared by the
  instruments of one kind, so stocks move together) form a Brownian bridge from the day's level to the next
  day's, with a volatility profile (U-shaped for stocks: busy at the open and the close).

Draws are vectorised with numpy and cached per day, so a minute of 503 stocks is an array slice.

Stocks trade in the New York Stock Exchange's regular sessions (`pipeline.calendar`: 09:30-16:00 America/New_York,
no bars on exchange holidays, none after an early close); crypto trades 24/7; currencies move slowly, and pegged
ones hardly at all.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np

NEW_YORK = ZoneInfo("America/New_York")
STOCK_SESSION_MINUTES = 390
DAY_MINUTES = 1440

_FIRST_YEAR, _LAST_YEAR, _ANCHOR_YEAR = 1970, 2100, 2025


def _key(*parts: object) -> int:
    """A stable 64-bit key (Python's hash() changes between processes)."""
    return int.from_bytes(hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest(), "big")


def _rng(seed: int, *parts: object) -> np.random.Generator:
    return np.random.default_rng([seed & 0xFFFFFFFFFFFFFFFF, _key(*parts)])


@dataclass(frozen=True)
class Walk:
    """How one instrument moves: its price around the anchor year, yearly volatility and drift."""

    kind: str
    name: str
    anchor_price: float
    annual_vol: float
    annual_drift: float = 0.0
    factor_weight: float = 0.0  # correlation of its minute steps with its kind's common factor


@lru_cache(maxsize=8192)
def _year_levels(seed: int, walk: Walk) -> np.ndarray:
    """Log level at 1 January of every year _FIRST_YEAR.._LAST_YEAR+1, relative to the anchor year."""
    steps = (
        walk.annual_drift
        - walk.annual_vol**2 / 2
        + walk.annual_vol * _rng(seed, walk.kind, walk.name, "years").standard_normal(_LAST_YEAR - _FIRST_YEAR + 1)
    )
    levels = np.concatenate([[0.0], np.cumsum(steps)])
    return np.asarray(levels - levels[_ANCHOR_YEAR - _FIRST_YEAR] + np.log(walk.anchor_price))


@lru_cache(maxsize=8192)
def _day_levels(seed: int, walk: Walk, year: int) -> np.ndarray:
    """Log level at 00:00 of every day of `year` and of 1 January after it (a bridge between year levels)."""
    span = _LAST_YEAR - _FIRST_YEAR + 1
    y = _FIRST_YEAR + (year - _FIRST_YEAR) % span
    years = _year_levels(seed, walk)
    start, end = years[y - _FIRST_YEAR], years[y - _FIRST_YEAR + 1]
    days = (date(year + 1, 1, 1) - date(year, 1, 1)).days
    noise = _rng(seed, walk.kind, walk.name, "days", y).standard_normal(days)
    w = np.concatenate([[0.0], np.cumsum(noise)]) * walk.annual_vol / np.sqrt(365.0)
    frac = np.arange(days + 1) / days
    return start + w - frac * w[-1] + frac * (end - start)  # type: ignore[no-any-return]


def day_level(seed: int, walk: Walk, day: date) -> float:
    """The log price at 00:00 of `day` (the level the intraday bridge starts from)."""
    return float(_day_levels(seed, walk, day.year)[day.timetuple().tm_yday - 1])


def _intraday(
    seed: int, walks: tuple[Walk, ...], day: date, profile: np.ndarray, gap: float = 0.0
) -> tuple[np.ndarray, ...]:
    """Log prices at every minute boundary (n, m+1) of `day`, and the per-minute noise used for bars.

    `gap` is the overnight move at the open, as a share of a day's volatility (0 for markets that never close).
    """
    m = profile.size
    n = len(walks)
    kind = walks[0].kind if walks else ""
    factor = _rng(seed, kind, "factor", day.toordinal()).standard_normal(m)
    noise = np.empty((n, 3, m))
    start = np.empty(n)
    end = np.empty(n)
    vol = np.empty(n)
    weight = np.empty(n)
    following = day + timedelta(days=1)
    for i, walk in enumerate(walks):
        r = _rng(seed, walk.kind, walk.name, "minutes", day.toordinal())
        noise[i] = r.standard_normal((3, m))
        start[i] = day_level(seed, walk, day) + gap * walk.annual_vol / np.sqrt(252.0) * r.standard_normal()
        end[i] = day_level(seed, walk, following)
        vol[i] = walk.annual_vol
        weight[i] = walk.factor_weight
    sigma = (vol / np.sqrt(252.0))[:, None] * profile[None, :] / np.sqrt((profile**2).sum())
    steps = (weight[:, None] * factor[None, :] + np.sqrt(1 - weight**2)[:, None] * noise[:, 0]) * sigma
    w = np.concatenate([np.zeros((n, 1)), np.cumsum(steps, axis=1)], axis=1)
    frac = np.arange(m + 1)[None, :] / m
    path = start[:, None] + w - frac * w[:, -1:] + frac * (end - start)[:, None]
    return path, noise, sigma


# ---------------------------------------------------------------------------------------------------- stocks


@lru_cache(maxsize=4096)
def stock_walk(seed: int, symbol: str) -> Walk:
    """A stock's character: price level, volatility and market correlation, drawn once per (seed, symbol)."""
    r = _rng(seed, "stock", symbol, "profile")
    price = float(np.clip(np.exp(r.normal(np.log(120.0), 0.8)), 8.0, 2500.0))
    return Walk("stock", symbol, price, float(r.uniform(0.18, 0.45)), 0.07, float(r.uniform(0.35, 0.7)))


@lru_cache(maxsize=4096)
def _stock_daily_volume(seed: int, symbol: str) -> float:
    return float(np.exp(_rng(seed, "stock", symbol, "volume").normal(np.log(3.0e6), 0.8)))


_STOCK_VOL_PROFILE = (
    0.75
    + 1.6 * np.exp(-np.arange(STOCK_SESSION_MINUTES) / 25.0)
    + 0.5 * np.exp(-(STOCK_SESSION_MINUTES - 1 - np.arange(STOCK_SESSION_MINUTES)) / 30.0)
)
_STOCK_VOLUME_PROFILE = (
    0.6
    + 3.0 * np.exp(-np.arange(STOCK_SESSION_MINUTES) / 20.0)
    + 2.0 * np.exp(-(STOCK_SESSION_MINUTES - 1 - np.arange(STOCK_SESSION_MINUTES)) / 15.0)
)


def stock_session(day: date) -> tuple[datetime, datetime] | None:
    """The regular session of `day` in UTC ([open, close)), or None when the exchange does not open that day."""
    from pipeline.calendar import session_of  # exchange_calendars: only the stock twin needs it

    session = session_of(day)
    return None if session is None else (session.open, session.close)


@dataclass(frozen=True)
class DayBars:
    """One-minute bars of a trading day for many symbols: arrays of shape (symbols, minutes)."""

    symbols: tuple[str, ...]
    session_open: datetime  # UTC start of the first bar
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray


@lru_cache(maxsize=4)
def stock_day(seed: int, symbols: tuple[str, ...], day: date) -> DayBars | None:
    """All one-minute bars of `day` (a New York date) for `symbols`, or None when the market does not open."""
    session = stock_session(day)
    if session is None:
        return None
    walks = tuple(stock_walk(seed, s) for s in symbols)
    path, noise, sigma = _intraday(seed, walks, day, _STOCK_VOL_PROFILE, gap=0.4)
    prices = np.exp(path)
    opens, closes = prices[:, :-1], prices[:, 1:]
    top = np.maximum(opens, closes) * np.exp(np.abs(noise[:, 1]) * sigma * 0.6)
    bottom = np.minimum(opens, closes) * np.exp(-np.abs(noise[:, 2]) * sigma * 0.6)
    opens, closes = np.round(opens, 2), np.round(closes, 2)
    high = np.maximum(np.round(top, 2), np.maximum(opens, closes))
    low = np.minimum(np.round(bottom, 2), np.minimum(opens, closes))
    daily = np.array([_stock_daily_volume(seed, s) for s in symbols])
    share = _STOCK_VOLUME_PROFILE / _STOCK_VOLUME_PROFILE.sum()
    volume = daily[:, None] * share[None, :] * np.exp(0.45 * noise[:, 1] - 0.1)
    return DayBars(symbols, session[0], opens, high, low, closes, np.round(volume).astype(np.int64))


def stock_sessions(start: datetime, end: datetime) -> list[tuple[date, datetime, slice]]:
    """The trading days whose bars start in [start, end): (New York date, session open UTC, minute slice)."""
    from pipeline.calendar import XNYS, sessions

    start, end = start.astimezone(UTC), end.astimezone(UTC)
    out = []
    for session in sessions(XNYS, start, end):
        first = max(0, _minutes_between(session.open, start))
        last = min(session.minutes, STOCK_SESSION_MINUTES, _minutes_between(session.open, end))
        if last > first:
            out.append((session.day, session.open, slice(first, last)))
    return out


def _minutes_between(a: datetime, b: datetime) -> int:
    """Whole minutes from a to b, rounded up (the first bar starting at or after b)."""
    seconds = (b - a).total_seconds()
    return int(-(-seconds // 60))


# ---------------------------------------------------------------------------------------------------- crypto


@dataclass(frozen=True)
class Coin:
    name: str
    symbol: str
    price: float  # around the anchor year
    supply: float  # circulating, around the anchor year
    supply_growth: float  # a year
    annual_vol: float
    daily_volume_usd: float


COINS: tuple[Coin, ...] = (
    Coin("Bitcoin", "BTC", 95_000.0, 19.8e6, 0.017, 0.55, 35e9),
    Coin("Ethereum", "ETH", 3_300.0, 120.5e6, 0.005, 0.70, 18e9),
    Coin("Tether USDt", "USDT", 1.0, 140e9, 0.30, 0.004, 60e9),
    Coin("XRP", "XRP", 2.3, 57e9, 0.05, 0.85, 4e9),
    Coin("BNB", "BNB", 650.0, 145e6, -0.02, 0.55, 1.8e9),
    Coin("Solana", "SOL", 190.0, 480e6, 0.06, 0.85, 4.5e9),
    Coin("USDC", "USDC", 1.0, 45e9, 0.25, 0.004, 8e9),
    Coin("Dogecoin", "DOGE", 0.33, 147e9, 0.035, 1.0, 2.5e9),
    Coin("TRON", "TRX", 0.24, 86e9, 0.01, 0.6, 0.9e9),
    Coin("Cardano", "ADA", 0.9, 35e9, 0.02, 0.9, 1.0e9),
    Coin("Chainlink", "LINK", 20.0, 630e6, 0.05, 0.9, 0.8e9),
    Coin("Avalanche", "AVAX", 35.0, 410e6, 0.05, 0.95, 0.6e9),
    Coin("Stellar", "XLM", 0.4, 30e9, 0.04, 0.9, 0.4e9),
    Coin("Toncoin", "TON", 5.5, 2.5e9, 0.05, 0.8, 0.3e9),
    Coin("Shiba Inu", "SHIB", 0.000021, 589e12, 0.0, 1.0, 0.5e9),
    Coin("Sui", "SUI", 3.8, 3.0e9, 0.15, 1.1, 1.0e9),
    Coin("Hedera", "HBAR", 0.28, 38e9, 0.05, 1.0, 0.3e9),
    Coin("Bitcoin Cash", "BCH", 450.0, 19.8e6, 0.017, 0.8, 0.4e9),
    Coin("Polkadot", "DOT", 7.0, 1.5e9, 0.08, 0.9, 0.3e9),
    Coin("Litecoin", "LTC", 105.0, 75e6, 0.03, 0.8, 0.6e9),
)

# CoinMarketCap's ids of the coins (permanent, unlike symbols).
CMC_IDS: dict[str, int] = {
    "BTC": 1, "ETH": 1027, "USDT": 825, "XRP": 52, "BNB": 1839, "SOL": 5426, "USDC": 3408, "DOGE": 74, "TRX": 1958,
    "ADA": 2010, "LINK": 1975, "AVAX": 5805, "XLM": 512, "TON": 11419, "SHIB": 5994, "SUI": 20947, "HBAR": 4642,
    "BCH": 1831, "DOT": 6636, "LTC": 2,
}  # fmt: skip


def _coin_walk(coin: Coin) -> Walk:
    return Walk("crypto", coin.symbol, coin.price, coin.annual_vol, 0.0, 0.0 if coin.price == 1.0 else 0.6)


@lru_cache(maxsize=16)
def _crypto_day(seed: int, day: date) -> np.ndarray:
    """Log prices (coins, 1441) at every minute boundary of a UTC day."""
    path, _, _ = _intraday(seed, tuple(_coin_walk(c) for c in COINS), day, np.ones(DAY_MINUTES))
    return path


def crypto_prices(seed: int, at: datetime) -> np.ndarray:
    """Every coin's USD price at a minute (UTC), in `COINS` order."""
    at = at.astimezone(UTC)
    minute = at.hour * 60 + at.minute
    return np.exp(_crypto_day(seed, at.date())[:, minute])  # type: ignore[no-any-return]


@dataclass(frozen=True)
class CoinQuote:
    coin: Coin
    price: float
    change_1h_pct: float
    change_24h_pct: float
    change_7d_pct: float
    market_cap: float
    volume_24h: float
    circulating_supply: float


def crypto_quotes(seed: int, at: datetime) -> list[CoinQuote]:
    """Quotes of every coin at a minute, ranked by market cap (largest first), as a listing shows them."""
    at = at.astimezone(UTC).replace(second=0, microsecond=0)
    now = crypto_prices(seed, at)
    hour, day, week = (crypto_prices(seed, at - timedelta(minutes=k)) for k in (60, 1440, 10080))
    years = (at - datetime(_ANCHOR_YEAR, 1, 1, tzinfo=UTC)).total_seconds() / (365.25 * 86400)
    hourly = _rng(seed, "crypto", "volume", at.date().toordinal(), at.hour).lognormal(0.0, 0.15, len(COINS))
    quotes = []
    for i, coin in enumerate(COINS):
        supply = coin.supply * max(0.2, 1.0 + coin.supply_growth * years)
        change_24h = now[i] / day[i] - 1
        volume = coin.daily_volume_usd * (1 + 6 * abs(change_24h)) * hourly[i] * (now[i] / coin.price) ** 0.5
        quotes.append(
            CoinQuote(
                coin,
                float(now[i]),
                float(100 * (now[i] / hour[i] - 1)),
                float(100 * change_24h),
                float(100 * (now[i] / week[i] - 1)),
                float(now[i] * supply),
                float(volume),
                float(supply),
            )
        )
    return sorted(quotes, key=lambda q: -q.market_cap)


# ---------------------------------------------------------------------------------------------------- FX

# Units of each currency per US dollar around the anchor year, and a yearly volatility (pegs hardly move).
CURRENCIES: dict[str, tuple[float, float]] = {
    "AED": (3.6725, 0.001), "ARS": (1190.0, 0.35), "AUD": (1.535, 0.11), "BRL": (5.56, 0.16),
    "CAD": (1.3726, 0.07), "CHF": (0.8047, 0.08), "CLP": (936.3, 0.13), "CNY": (7.1768, 0.04),
    "COP": (4055.1, 0.15), "CZK": (21.22, 0.10), "DKK": (6.3993, 0.08), "EGP": (49.9, 0.20),
    "EUR": (0.8576, 0.08), "GBP": (0.7318, 0.08), "HKD": (7.8499, 0.003), "HUF": (343.6, 0.12),
    "IDR": (16290.2, 0.08), "ILS": (3.4056, 0.10), "INR": (85.99, 0.05), "JPY": (145.24, 0.11),
    "KRW": (1359.0, 0.09), "MXN": (18.93, 0.13), "MYR": (4.2355, 0.07), "NGN": (1549.9, 0.25),
    "NOK": (10.132, 0.11), "NZD": (1.656, 0.11), "PEN": (3.5777, 0.07), "PHP": (56.74, 0.06),
    "PKR": (284.32, 0.06), "PLN": (3.6445, 0.10), "SAR": (3.7504, 0.001), "SEK": (9.4886, 0.11),
    "SGD": (1.2785, 0.05), "THB": (32.546, 0.08), "TRY": (39.756, 0.20), "TWD": (29.418, 0.06),
    "USD": (1.0, 0.0), "VND": (26154.5, 0.03), "XAU": (0.0003001, 0.16), "ZAR": (17.756, 0.15),
}  # fmt: skip


# The weight of the common dollar factor in each USD/XXX rate's minute steps: a stronger dollar lifts every USD/XXX
# rate at once, so EURUSD and USDCHF move against each other (correlation about -0.9, as they do), European
# currencies move with the euro, and the commodity, Asian and emerging currencies less so. Two rates' minute
# returns correlate by the product of their weights.
DOLLAR_FACTOR: dict[str, float] = {
    "EUR": 0.95, "DKK": 0.95, "CHF": 0.93, "SEK": 0.85, "NOK": 0.82, "CZK": 0.85, "HUF": 0.8, "PLN": 0.85,
    "GBP": 0.82, "JPY": 0.6, "AUD": 0.65, "NZD": 0.65, "CAD": 0.6, "SGD": 0.7, "XAU": 0.5, "CNY": 0.5,
}  # fmt: skip
_DOLLAR_FACTOR_OTHERS = 0.4  # emerging-market and pegged currencies


@lru_cache(maxsize=8)
def _fx_day(seed: int, day: date) -> np.ndarray:
    walks = tuple(
        Walk("fx", code, rate, vol, 0.0, DOLLAR_FACTOR.get(code, _DOLLAR_FACTOR_OTHERS))
        for code, (rate, vol) in CURRENCIES.items()
    )
    path, _, _ = _intraday(seed, walks, day, np.ones(DAY_MINUTES))
    return path


def fx_rates(seed: int, at: datetime) -> dict[str, float]:
    """Units of each currency per US dollar at a minute (UTC), rounded as the service quotes them."""
    at = at.astimezone(UTC)
    levels = np.exp(_fx_day(seed, at.date())[:, at.hour * 60 + at.minute])
    return {code: float(f"{rate:.6g}") if code != "USD" else 1.0 for code, rate in zip(CURRENCIES, levels, strict=True)}
