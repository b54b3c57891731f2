-- name: measure_session_vwap
-- purpose: Power BI measure "Session VWAP": sum(typical price * volume) / sum(volume) over the regular-session bars of the latest session in [from_dt, to_dt], one symbol and interval; typical price = (high + low + close) / 3.
-- params: symbol varchar, interval varchar, from_dt varchar, to_dt varchar
-- pruning: yes (dt)
WITH window_bars AS (
    SELECT dt, high, low, "close", volume
    FROM bars
    WHERE symbol = ?
        AND "interval" = ?
        AND dt BETWEEN ? AND ?
        AND session = 'regular'
),
last_session AS (
    SELECT max(dt) AS dt FROM window_bars
)
SELECT sum((w.high + w.low + w."close") / 3 * w.volume) / NULLIF(sum(w.volume), 0) AS session_vwap
FROM window_bars w
JOIN last_session s ON w.dt = s.dt
