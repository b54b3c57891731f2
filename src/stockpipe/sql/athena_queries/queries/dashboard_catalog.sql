-- name: dashboard_catalog
-- purpose: Dashboard slicers and health: every (symbol, interval) in the lake with its first and last bar time and bar count.
-- params: from_dt varchar = ''
-- pruning: yes (dt >= from_dt, a literal, so partition projection prunes too); the default '' reads every partition (DuckDB); the dashboard on Athena gives from_dt (its recent days only)
SELECT
    symbol,
    "interval",
    min(ts) AS first_ts,
    max(ts) AS last_ts,
    count(*) AS bar_count
FROM bars
WHERE dt >= ?
GROUP BY symbol, "interval"
ORDER BY symbol, "interval"
