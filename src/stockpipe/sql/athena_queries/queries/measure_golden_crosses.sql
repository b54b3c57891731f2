-- name: measure_golden_crosses
-- purpose: Power BI measure "Golden Crosses": the number of bars of one symbol and interval, sessions dt in [from_dt, to_dt], where sma_20 > sma_50 while on the previous bar in the window with both averages sma_20 <= sma_50 (bars without them are skipped).
-- params: symbol varchar, interval varchar, from_dt varchar, to_dt varchar
-- pruning: yes (dt)
WITH window_bars AS (
    SELECT
        sma_20,
        sma_50,
        lag(sma_20) OVER (ORDER BY ts) AS prev_sma_20,
        lag(sma_50) OVER (ORDER BY ts) AS prev_sma_50
    FROM bars
    WHERE symbol = ?
        AND "interval" = ?
        AND dt BETWEEN ? AND ?
        AND sma_20 IS NOT NULL
        AND sma_50 IS NOT NULL
)
SELECT count(*) AS golden_crosses
FROM window_bars
WHERE sma_20 > sma_50
    AND prev_sma_20 <= prev_sma_50
