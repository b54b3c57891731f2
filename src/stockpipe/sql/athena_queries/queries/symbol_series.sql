-- name: symbol_series
-- purpose: One symbol's bars with every indicator column for ts in [from_ts, to_ts), oldest first.
-- params: symbol varchar, from_ts timestamp, to_ts timestamp, from_ts timestamp, to_ts timestamp
-- pruning: yes (dt): the UTC dates of the window, widened by one day for New York session dates
SELECT
    symbol, "interval", ts, open, high, low, close, volume, source,
    change, change_pct, sma_5, sma_20, sma_50, ema_12, ema_26,
    macd, macd_signal, macd_hist, rsi_14, bb_upper, bb_middle, bb_lower,
    vwap, session_high, session_low, dt
FROM bars
WHERE symbol = ?
    AND ts >= ?
    AND ts < ?
    AND dt >= date_format(? - INTERVAL '1' DAY, '%Y-%m-%d')
    AND dt <= date_format(?, '%Y-%m-%d')
ORDER BY "interval", ts
