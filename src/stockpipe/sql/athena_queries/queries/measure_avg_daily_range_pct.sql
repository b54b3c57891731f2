-- name: measure_avg_daily_range_pct
-- purpose: Power BI measure "Avg Daily Range %": the average over the daily rows of one symbol, sessions dt in [from_dt, to_dt], of 100 * (high - low) / open (open = 0 skipped).
-- params: symbol varchar, from_dt varchar, to_dt varchar
-- pruning: yes (dt)
SELECT avg(100 * (high - low) / NULLIF("open", 0)) AS avg_daily_range_pct
FROM daily
WHERE symbol = ?
    AND dt BETWEEN ? AND ?
