-- name: measure_volatility
-- purpose: Power BI measure "Volatility": sample standard deviation of daily log returns ln(close / previous session's close) * sqrt(252), one symbol, sessions dt in [from_dt, to_dt] (the first session has no return).
-- params: symbol varchar, from_dt varchar, to_dt varchar
-- pruning: yes (dt)
WITH sessions AS (
    SELECT
        dt,
        "close",
        lag("close") OVER (ORDER BY dt) AS prev_close
    FROM daily
    WHERE symbol = ?
        AND dt BETWEEN ? AND ?
)
SELECT stddev_samp(ln("close" / prev_close)) * sqrt(252) AS volatility
FROM sessions
WHERE prev_close IS NOT NULL
