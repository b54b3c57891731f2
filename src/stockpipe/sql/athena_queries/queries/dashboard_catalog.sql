-- name: dashboard_catalog
-- purpose: Dashboard slicers and health: every (symbol, interval) in the lake with its first and last bar time and bar count.
-- params: from_dt varchar = ''
-- pruning: no (none needed): it reads the small `latest` table (one row per symbol, interval and session date, so dt >= from_dt stays exact), never bars; the default '' covers every date
SELECT
    symbol,
    "interval",
    min(first_ts) AS first_ts,
    max(ts) AS last_ts,
    CAST(sum(bar_count) AS bigint) AS bar_count
FROM latest
WHERE dt >= ?
GROUP BY symbol, "interval"
ORDER BY symbol, "interval"
