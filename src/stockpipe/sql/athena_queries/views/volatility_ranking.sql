-- view: volatility_ranking
-- purpose: Realized volatility per symbol, interval and regular session: sqrt(sum(r^2)) of the log returns r = ln(close / previous close) between the session's regular-session bars (no overnight or extended-hours return), with their sample stddev and a rank per session date (1 = most volatile).
-- pruning: yes (dt) when the caller filters on dt
CREATE OR REPLACE VIEW volatility_ranking AS
WITH returns AS (
    SELECT
        symbol,
        "interval",
        dt,
        ln(close / lag(close) OVER (PARTITION BY symbol, "interval", dt ORDER BY ts)) AS log_return
    FROM bars
    WHERE session = 'regular'
),
per_session AS (
    SELECT
        symbol,
        "interval",
        dt,
        count(log_return) AS return_count,
        sqrt(sum(log_return * log_return)) AS realized_volatility,
        stddev_samp(log_return) AS return_stddev
    FROM returns
    GROUP BY symbol, "interval", dt
)
SELECT
    dt,
    symbol,
    "interval",
    return_count,
    realized_volatility,
    return_stddev,
    row_number() OVER (
        PARTITION BY dt, "interval" ORDER BY realized_volatility DESC, symbol
    ) AS volatility_rank
FROM per_session
WHERE return_count > 0
