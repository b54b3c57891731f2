-- name: compare_normalized
-- purpose: Several symbols' closes for ts in [from_ts, to_ts), each normalized to 100 at its first bar in the window.
-- params: symbols varchar, from_ts timestamp, to_ts timestamp, from_ts timestamp, to_ts timestamp
-- pruning: yes (dt): the UTC dates of the window, widened by one day for New York session dates
WITH window_bars AS (
    SELECT symbol, "interval", ts, close
    FROM bars
    WHERE contains(split(?, ','), symbol)
        AND ts >= ?
        AND ts < ?
        AND dt >= date_format(? - INTERVAL '1' DAY, '%Y-%m-%d')
        AND dt <= date_format(?, '%Y-%m-%d')
)
SELECT
    symbol,
    "interval",
    ts,
    close,
    100 * close / first_value(close) OVER (PARTITION BY symbol, "interval" ORDER BY ts) AS normalized
FROM window_bars
ORDER BY symbol, "interval", ts
