-- view: daily_movers
-- purpose: Top 5 gainers (change_pct > 0) and top 5 losers (change_pct < 0) per session date and interval, from the daily table; ties broken by symbol.
-- pruning: yes (dt) when the caller filters on dt
CREATE OR REPLACE VIEW daily_movers AS
WITH ranked AS (
    SELECT
        dt,
        symbol,
        "interval",
        close,
        volume,
        change,
        change_pct,
        row_number() OVER (
            PARTITION BY dt, "interval" ORDER BY change_pct DESC, symbol
        ) AS gain_rank,
        row_number() OVER (
            PARTITION BY dt, "interval" ORDER BY change_pct ASC, symbol
        ) AS loss_rank
    FROM daily
    WHERE change_pct IS NOT NULL
)
SELECT dt, symbol, "interval", close, volume, change, change_pct,
    'gainer' AS direction, gain_rank AS mover_rank
FROM ranked
WHERE change_pct > 0 AND gain_rank <= 5
UNION ALL
SELECT dt, symbol, "interval", close, volume, change, change_pct,
    'loser' AS direction, loss_rank AS mover_rank
FROM ranked
WHERE change_pct < 0 AND loss_rank <= 5
