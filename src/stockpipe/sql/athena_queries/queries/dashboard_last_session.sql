-- name: dashboard_last_session
-- purpose: Dashboard on Athena: the latest session date in daily, so that the catalog query gets a literal dt lower bound (a bound from a subquery does not prune under partition projection).
-- params: none
-- pruning: no (daily holds one small row per symbol, interval and session: the cheapest table to read whole)
SELECT max(dt) AS last_dt
FROM daily
