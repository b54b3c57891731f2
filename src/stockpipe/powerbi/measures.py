"""The seven DAX measures, each defined once in words, in DAX and (by name) in Athena SQL.

The words are the specification; `src/stockpipe/sql/athena_queries/queries/measure_*.sql` and the DAX
below both implement it, and tests check the SQL against an independent computation.
Fully qualified `table[column]` references let the tests check every column exists.
"""

from __future__ import annotations

from stockpipe.powerbi.base import Measure

_LAST_PRICE = """\
VAR _lastTs = MAX ( bars[ts] )
RETURN
    CALCULATE ( MAX ( bars[close] ), bars[ts] = _lastTs )"""

_CHANGE_PCT = """\
VAR _firstTs = MIN ( bars[ts] )
VAR _lastTs = MAX ( bars[ts] )
VAR _firstOpen = CALCULATE ( MAX ( bars[open] ), bars[ts] = _firstTs )
VAR _lastClose = CALCULATE ( MAX ( bars[close] ), bars[ts] = _lastTs )
RETURN
    DIVIDE ( _lastClose - _firstOpen, _firstOpen ) * 100"""

_SESSION_VWAP = """\
VAR _session = CALCULATE ( MAX ( bars[dt] ), bars[session] = "regular" )
RETURN
    CALCULATE (
        DIVIDE (
            SUMX ( bars, ( bars[high] + bars[low] + bars[close] ) / 3 * bars[volume] ),
            SUM ( bars[volume] )
        ),
        bars[dt] = _session,
        bars[session] = "regular"
    )"""

_TOTAL_VOLUME = "SUM ( bars[volume] )"

_AVG_DAILY_RANGE_PCT = """\
AVERAGEX ( daily, DIVIDE ( daily[high] - daily[low], daily[open] ) * 100 )"""

# dt is text (YYYY-MM-DD); turning it into a date keeps MAXX numeric.
_VOLATILITY = """\
VAR _days =
    SELECTCOLUMNS (
        daily,
        "@symbol", daily[symbol],
        "@day", DATE ( VALUE ( LEFT ( daily[dt], 4 ) ), VALUE ( MID ( daily[dt], 6, 2 ) ), VALUE ( RIGHT ( daily[dt], 2 ) ) ),
        "@close", daily[close]
    )
VAR _withPrev =
    ADDCOLUMNS (
        _days,
        "@prevClose",
            VAR _s = [@symbol]
            VAR _d = [@day]
            VAR _prevDay = MAXX ( FILTER ( _days, [@symbol] = _s && [@day] < _d ), [@day] )
            RETURN
                MAXX ( FILTER ( _days, [@symbol] = _s && [@day] = _prevDay ), [@close] )
    )
VAR _returns = FILTER ( _withPrev, NOT ISBLANK ( [@prevClose] ) )
RETURN
    STDEVX.S ( _returns, LN ( [@close] / [@prevClose] ) ) * SQRT ( 252 )"""

_GOLDEN_CROSSES = """\
VAR _bars =
    FILTER (
        SELECTCOLUMNS (
            bars,
            "@symbol", bars[symbol],
            "@interval", bars[interval],
            "@ts", bars[ts],
            "@sma20", bars[sma_20],
            "@sma50", bars[sma_50]
        ),
        NOT ISBLANK ( [@sma20] ) && NOT ISBLANK ( [@sma50] )
    )
VAR _withPrev =
    ADDCOLUMNS (
        _bars,
        "@prevTs",
            VAR _s = [@symbol]
            VAR _i = [@interval]
            VAR _t = [@ts]
            RETURN
                MAXX ( FILTER ( _bars, [@symbol] = _s && [@interval] = _i && [@ts] < _t ), [@ts] )
    )
VAR _crosses =
    FILTER (
        _withPrev,
        VAR _s = [@symbol]
        VAR _i = [@interval]
        VAR _p = [@prevTs]
        VAR _prev = FILTER ( _bars, [@symbol] = _s && [@interval] = _i && [@ts] = _p )
        VAR _p20 = MAXX ( _prev, [@sma20] )
        VAR _p50 = MAXX ( _prev, [@sma50] )
        RETURN
            NOT ISBLANK ( [@sma20] ) && NOT ISBLANK ( [@sma50] )
                && NOT ISBLANK ( _p20 ) && NOT ISBLANK ( _p50 )
                && [@sma20] > [@sma50] && _p20 <= _p50
    )
RETURN
    COUNTROWS ( _crosses ) + 0"""

MEASURES: tuple[Measure, ...] = (
    Measure(
        name="Last Price",
        table="bars",
        dax=_LAST_PRICE,
        format_string="#,0.00",
        description="Close of the latest bar in the filter context",
        query="measure_last_price",
        definition=(
            "The `close` of the bar with the latest `ts` among the bars of one symbol and one "
            "interval whose session date `dt` is in the selected window."
        ),
    ),
    Measure(
        name="Change %",
        table="bars",
        dax=_CHANGE_PCT,
        format_string="#,0.00\\%",
        description="Percent change over the window: first bar's open to last bar's close",
        query="measure_change_pct",
        definition=(
            "100 × (close of the last bar − open of the first bar) / open of the first bar, "
            "over the bars of one symbol and interval in the window (first/last by `ts`). "
            "The value is already in percent (1.5 means 1.5 %)."
        ),
    ),
    Measure(
        name="Session VWAP",
        table="bars",
        dax=_SESSION_VWAP,
        format_string="#,0.00",
        description=(
            "Volume-weighted average typical price of the latest regular session in context"
        ),
        query="measure_session_vwap",
        definition=(
            "Over the regular-session bars (`session` = regular) of the latest session "
            "(`dt`) in the window, for one symbol and interval: "
            "Σ(((high + low + close) / 3) × volume) / Σ volume."
        ),
    ),
    Measure(
        name="Total Volume",
        table="bars",
        dax=_TOTAL_VOLUME,
        format_string="#,0",
        description="Sum of traded volume of the bars in context",
        query="measure_total_volume",
        definition="Σ volume over the bars of one symbol and interval in the window.",
    ),
    Measure(
        name="Avg Daily Range %",
        table="daily",
        dax=_AVG_DAILY_RANGE_PCT,
        format_string="#,0.00\\%",
        description="Average over sessions of 100 * (high - low) / open, from daily",
        query="measure_avg_daily_range_pct",
        definition=(
            "The average, over the `daily` rows of one symbol in the window, of "
            "100 × (high − low) / open (sessions with open = 0 are skipped). In percent."
        ),
    ),
    Measure(
        name="Volatility",
        table="daily",
        dax=_VOLATILITY,
        format_string="0.00%",
        description="Annualised volatility: sample stdev of daily log returns x sqrt(252)",
        query="measure_volatility",
        definition=(
            "Sample standard deviation of the daily log returns ln(close_d / close_prev) × √252, "
            "where close_prev is the close of the same symbol's previous session inside the "
            "window (the first session has no return). A ratio: 0.25 is shown as 25.00 %."
        ),
    ),
    Measure(
        name="Golden Crosses",
        table="bars",
        dax=_GOLDEN_CROSSES,
        format_string="0",
        description="Bars where SMA 20 crosses above SMA 50 versus the previous bar",
        query="measure_golden_crosses",
        definition=(
            "The number of bars (one symbol and interval, in the window) where sma_20 > sma_50 "
            "while on the previous bar of the same symbol and interval inside the window "
            "that has both averages sma_20 ≤ sma_50; bars without both averages are skipped "
            "(pre/post bars when the indicators run over the regular session only)."
        ),
    ),
)


def measures_for(table: str) -> list[Measure]:
    return [m for m in MEASURES if m.table == table]
