"""The trade-to-bar aggregator: exact bars, watermarks, late corrections, restarts, and the
property that any arrival order within the lateness gives the batch resample's bars."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stockpipe.sources.websocket.aggregate import AggBar, TradeAggregator
from stockpipe.sources.websocket.base import ProviderBar, Rejected, Trade

T0 = datetime(2026, 12, 4, 15, 30, tzinfo=UTC)  # a Friday, 10:30 New York
T0_NS = int(T0.timestamp()) * 10**9
S = 10**9  # one second in ns


def tr(sec: float, price: str, size: int, symbol: str = "AAPL", tid: int | None = None) -> Trade:
    return Trade(symbol, T0_NS + int(sec * S), Decimal(price), Decimal(size), tid)


def final(bars: list[AggBar]) -> dict[tuple[str, datetime], AggBar]:
    """The last version of each key: what the processing stage stores."""
    out: dict[tuple[str, datetime], AggBar] = {}
    for b in bars:
        out[(b.symbol, b.ts)] = b
    return out


def test_one_minute_bar_is_exact_and_price_only_updates_add_no_volume() -> None:
    agg = TradeAggregator(lateness_s=0)
    for t in (tr(5, "100.10", 10), tr(20, "100.50", 30), tr(40, "99.90", 0), tr(50, "100.20", 60)):
        assert agg.add(t, now=0.0) is None
    assert agg.poll(now=0.0) == []  # the watermark (0:50) has not passed 1:00
    agg.add(tr(61, "101.00", 5), now=0.0)
    (bar,) = agg.poll(now=0.0)
    # Worked by hand: open 100.10 (0:05), high 100.50, low 99.90 (the v=0 update moves
    # price), close 100.20 (0:50), volume 10+30+60 = 100 (v=0 adds none), 3 trades,
    # VWAP = (100.10*10 + 100.50*30 + 100.20*60) / 100 = 10028.0 / 100 = 100.28.
    assert (bar.symbol, bar.ts, bar.version) == ("AAPL", T0, 1)
    assert (bar.open, bar.high, bar.low, bar.close) == (100.10, 100.50, 99.90, 100.20)
    assert (bar.volume, bar.trade_count, bar.vwap) == (100, 3, 100.28)
    assert bar.to_dict("finnhub")["interval"] == "1min"


def test_quiet_feed_closes_bars_on_the_wall_clock_plus_lateness() -> None:
    agg = TradeAggregator(lateness_s=2)
    agg.add(tr(50, "10", 1), now=100.0)  # event time 0:50, arrived at wall 100 s
    assert agg.poll(now=111.9) == []  # watermark 0:50 + 11.9 - 2 = 0:59.9
    (bar,) = agg.poll(now=112.0)  # 0:50 + 12 - 2 = 1:00: the minute is over
    assert bar.close == 10.0


def test_late_trade_corrects_the_emitted_bar_and_too_late_is_rejected() -> None:
    agg = TradeAggregator(lateness_s=1, horizon_s=120)
    agg.add(tr(10, "50", 100), now=0.0)
    agg.add(tr(65, "51", 1), now=0.0)
    (first,) = agg.poll(now=0.0)
    assert (first.volume, first.close, first.version) == (100, 50.0, 1)
    agg.add(tr(59, "49", 300), now=0.0)  # late, for the first minute
    (fixed,) = agg.poll(now=0.0)
    assert (fixed.ts, fixed.version) == (T0, 2)
    # 100 @ 50 + 300 @ 49: volume 400, close 49 (0:59 is after 0:10), low 49,
    # VWAP = (5000 + 14700) / 400 = 49.25.
    assert (fixed.volume, fixed.close, fixed.low, fixed.vwap, fixed.trade_count) == (
        400, 49.0, 49.0, 49.25, 2,
    )  # fmt: skip
    agg.add(tr(300, "52", 1), now=0.0)  # watermark 4:59: minute 0 is beyond the 120 s horizon
    agg.poll(now=0.0)
    rejected = agg.add(tr(30, "48", 1), now=0.0)
    assert isinstance(rejected, Rejected) and rejected.reason == "too_late"
    assert agg.stats["too_late"] == 1


def test_restart_from_saved_state_counts_each_trade_once() -> None:
    trades = [tr(1, "10", 1, tid=1), tr(2, "11", 2, tid=2), tr(40, "12", 3, tid=3)]
    later = [tr(50, "9", 4, tid=4), tr(61, "13", 1, tid=5)]
    agg = TradeAggregator(lateness_s=0)
    for t in trades:
        agg.add(t, now=0.0)
    saved = json.loads(json.dumps(agg.to_state()))  # through JSON, as on disk
    resumed = TradeAggregator(lateness_s=0)
    resumed.load_state(saved, now=0.0)
    # The provider re-sends the trades with IDs 2 and 3 after the reconnect: not recounted.
    for t in [trades[1], trades[2], *later]:
        resumed.add(t, now=0.0)
    (bar,) = resumed.poll(now=0.0)
    # open 10 (0:01), high 12, low 9, close 9 (0:50), volume 1+2+3+4 = 10, 4 trades,
    # VWAP = (10 + 22 + 36 + 36) / 10 = 10.4.
    assert (bar.open, bar.high, bar.low, bar.close) == (10.0, 12.0, 9.0, 9.0)
    assert (bar.volume, bar.trade_count, bar.vwap) == (10, 4, 10.4)
    assert resumed.stats["duplicates"] == 2


def test_a_rest_bar_seals_its_minute() -> None:
    agg = TradeAggregator(lateness_s=0)
    agg.add(tr(5, "10", 1), now=0.0)
    agg.replace(ProviderBar("AAPL", T0, 10.0, 12.0, 9.0, 11.0, 500, 7, 10.5))
    agg.add(tr(30, "99", 99), now=0.0)  # counted in the REST bar already
    agg.add(tr(61, "11", 1), now=0.0)
    (bar,) = agg.poll(now=0.0)
    assert (bar.open, bar.high, bar.low, bar.close, bar.volume, bar.trade_count) == (
        10.0, 12.0, 9.0, 11.0, 500, 7,
    )  # fmt: skip
    assert bar.vwap == 10.5
    assert agg.stats["in_filled"] == 1


# -- the property: any arrival order within the lateness == a batch resample ----------

LATENESS_S = 5

trade_lists = st.lists(
    st.tuples(
        st.sampled_from(["AAPL", "MSFT"]),
        st.integers(0, 4 * 60 * 1000),  # ms within four minutes
        st.integers(1, 20000).map(lambda c: Decimal(c) / 100),  # 0.01 .. 200.00
        st.integers(0, 500),  # size; 0 = price-only update
    ),
    min_size=1,
    max_size=60,
    unique_by=lambda x: (x[0], x[1]),
)


def reference(trades: list[Trade]) -> dict[tuple[str, datetime], tuple[object, ...]]:
    """pandas resample of the same trades: the batch answer, computed independently."""
    df = pd.DataFrame(
        {
            "symbol": [t.symbol for t in trades],
            "ts": pd.to_datetime([t.t_ns for t in trades], unit="ns", utc=True),
            "price": [float(t.price) for t in trades],
            "size": [int(t.size) for t in trades],
        }
    ).sort_values(["symbol", "ts"])
    df["pv"] = df["price"] * df["size"]
    df["traded"] = (df["size"] > 0).astype(int)
    out = {}
    for sym, g in df.groupby("symbol"):
        r = g.set_index("ts").resample("1min")
        agg = pd.DataFrame(
            {
                "open": r["price"].first(),
                "high": r["price"].max(),
                "low": r["price"].min(),
                "close": r["price"].last(),
                "volume": r["size"].sum(),
                "n": r["traded"].sum(),
                "pv": r["pv"].sum(),
                "count": r["price"].count(),
            }
        )
        for ts, row in agg[agg["count"] > 0].iterrows():
            vwap = row["pv"] / row["volume"] if row["volume"] > 0 else None
            key = (str(sym), ts.to_pydatetime())
            out[key] = (row["open"], row["high"], row["low"], row["close"],
                        int(row["volume"]), int(row["n"]), vwap)  # fmt: skip
    return out


def check_equal(got: dict[tuple[str, datetime], AggBar], want: dict) -> None:
    assert set(got) == set(want)
    for key, bar in got.items():
        o, h, lo, c, v, n, vwap = want[key]
        assert (bar.open, bar.high, bar.low, bar.close, bar.volume, bar.trade_count) == (
            o, h, lo, c, v, n,
        ), key  # fmt: skip
        if vwap is None:
            assert bar.vwap is None
        else:
            assert bar.vwap == pytest.approx(vwap, rel=1e-12)


@settings(max_examples=150, deadline=None)
@given(trade_lists, st.randoms(use_true_random=False))
def test_arrival_within_lateness_gives_the_resample_with_one_version_per_bar(
    rows: list[tuple[str, int, Decimal, int]], rnd: object
) -> None:
    trades = [Trade(s, T0_NS + ms * 10**6, p, Decimal(v)) for s, ms, p, v in rows]
    # Arrival order: sort by event time plus a random delay of at most the lateness, so
    # no trade arrives after the stream's event time has moved more than `lateness` past it.
    delays = {id(t): rnd.uniform(0, LATENESS_S * 0.999) for t in trades}  # type: ignore[attr-defined]
    arrival = sorted(trades, key=lambda t: t.t_ns / 1e9 + delays[id(t)])
    agg = TradeAggregator(lateness_s=LATENESS_S)
    emitted: list[AggBar] = []
    for t in arrival:
        assert agg.add(t, now=0.0) is None
        emitted += agg.poll(now=0.0)
    emitted += agg.flush_all()
    assert all(b.version == 1 for b in emitted)  # never needed a correction
    check_equal(final(emitted), reference(trades))


@settings(max_examples=100, deadline=None)
@given(trade_lists, st.permutations(range(60)))
def test_any_order_within_the_horizon_converges_to_the_resample(
    rows: list[tuple[str, int, Decimal, int]], perm: list[int]
) -> None:
    trades = [Trade(s, T0_NS + ms * 10**6, p, Decimal(v)) for s, ms, p, v in rows]
    order = [i for i in perm if i < len(trades)]
    agg = TradeAggregator(lateness_s=0, horizon_s=3600)
    emitted: list[AggBar] = []
    for i in order:
        assert agg.add(trades[i], now=0.0) is None
        emitted += agg.poll(now=0.0)
    emitted += agg.flush_all()
    check_equal(final(emitted), reference(trades))
