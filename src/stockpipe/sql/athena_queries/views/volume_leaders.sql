-- view: volume_leaders
-- purpose: The 10 symbols with the highest volume per session date and interval, with their share of that day's total volume in %.
-- pruning: yes (dt) when the caller filters on dt
CREATE OR REPLACE VIEW volume_leaders AS
WITH ranked AS (
    SELECT
        dt,
        symbol,
        "interval",
        volume,
        close,
        change_pct,
        -- Cast before dividing: Athena divides bigints as integers.
        100 * CAST(volume AS double)
            / nullif(CAST(sum(volume) OVER (PARTITION BY dt, "interval") AS double), 0)
            AS volume_share_pct,
        row_number() OVER (PARTITION BY dt, "interval" ORDER BY volume DESC, symbol) AS volume_rank
    FROM daily
)
SELECT dt, symbol, "interval", volume, volume_share_pct, volume_rank, close, change_pct
FROM ranked
WHERE volume_rank <= 10
