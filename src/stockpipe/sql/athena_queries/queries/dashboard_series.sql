-- name: dashboard_series
-- purpose: Dashboard price, overlay, indicator and comparison series: the bars of the selected symbols and interval in a time window, with close normalized to 100 at the first bar of the window.
-- params: symbols varchar, interval varchar, from_ts timestamp, to_ts timestamp, from_dt varchar, to_dt varchar
-- pruning: yes
-- symbols is a comma-separated list of tickers (each checked against SYMBOL_RE by the caller);
-- from_dt/to_dt bound the session-date partitions dt (strings) so engines prune files.
SELECT
    symbol,
    ts,
    dt,
    "open",
    high,
    low,
    "close",
    volume,
    sma_20,
    sma_50,
    ema_12,
    ema_26,
    vwap,
    bb_upper,
    bb_middle,
    bb_lower,
    rsi_14,
    macd,
    macd_signal,
    macd_hist,
    100 * "close" / first_value("close") OVER (
        PARTITION BY symbol ORDER BY ts ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
    ) AS norm_close
FROM bars
WHERE strpos(',' || ? || ',', ',' || symbol || ',') > 0
    AND "interval" = ?
    AND ts >= ?
    AND ts <= ?
    AND dt BETWEEN ? AND ?
ORDER BY symbol, ts
