-- name: measure_change_pct
-- purpose: Power BI measure "Change %": 100 * (last bar's close - first bar's open) / first bar's open, one symbol and interval, sessions dt in [from_dt, to_dt].
-- params: symbol varchar, interval varchar, from_dt varchar, to_dt varchar
-- pruning: yes (dt)
WITH window_bars AS (
    SELECT ts, "open", "close"
    FROM bars
    WHERE symbol = ?
        AND "interval" = ?
        AND dt BETWEEN ? AND ?
),
first_bar AS (
    SELECT "open" FROM window_bars ORDER BY ts ASC LIMIT 1
),
last_bar AS (
    SELECT "close" FROM window_bars ORDER BY ts DESC LIMIT 1
)
SELECT 100 * (l."close" - f."open") / NULLIF(f."open", 0) AS change_pct
FROM first_bar f
CROSS JOIN last_bar l
