-- name: dashboard_catalog
-- purpose: Dashboard slicers and health: every (symbol, interval) in the lake with its first and last bar time and bar count.
-- params: none
-- pruning: no
SELECT
    symbol,
    "interval",
    min(ts) AS first_ts,
    max(ts) AS last_ts,
    count(*) AS bar_count
FROM bars
GROUP BY symbol, "interval"
ORDER BY symbol, "interval"
