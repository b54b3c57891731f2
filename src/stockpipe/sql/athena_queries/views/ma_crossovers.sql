-- view: ma_crossovers
-- purpose: Bars where sma_20 crosses sma_50: 'golden' when it moves from at or below to above, 'death' when it moves from at or above to below, against the previous bar that has both averages.
-- pruning: yes (dt) when the caller filters on dt (a cross on a session's first bar needs the previous session in range)
CREATE OR REPLACE VIEW ma_crossovers AS
WITH paired AS (
    SELECT
        symbol,
        "interval",
        dt,
        ts,
        close,
        sma_20,
        sma_50,
        lag(sma_20) OVER (PARTITION BY symbol, "interval" ORDER BY ts) AS prev_sma_20,
        lag(sma_50) OVER (PARTITION BY symbol, "interval" ORDER BY ts) AS prev_sma_50
    FROM bars
    -- Only bars with both averages: with STOCKPIPE_INDICATOR_SESSIONS=regular the
    -- pre/post bars in between have none, and the cross is between indicator bars.
    WHERE sma_20 IS NOT NULL AND sma_50 IS NOT NULL
)
SELECT
    symbol,
    "interval",
    dt,
    ts,
    close,
    sma_20,
    sma_50,
    CASE WHEN sma_20 > sma_50 THEN 'golden' ELSE 'death' END AS cross_type
FROM paired
WHERE (prev_sma_20 <= prev_sma_50 AND sma_20 > sma_50)
    OR (prev_sma_20 >= prev_sma_50 AND sma_20 < sma_50)
