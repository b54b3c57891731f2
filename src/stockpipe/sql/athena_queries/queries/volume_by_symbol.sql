-- name: volume_by_symbol
-- purpose: Total volume per symbol and interval over the sessions from `from` to `to` (inclusive), with its share of the total in % and the number of sessions.
-- params: from date, to date
-- pruning: yes (dt)
SELECT
    symbol,
    "interval",
    sum(volume) AS volume,
    -- Cast before dividing: Athena divides bigints as integers.
    100 * CAST(sum(volume) AS double)
        / nullif(CAST(sum(sum(volume)) OVER (PARTITION BY "interval") AS double), 0)
        AS volume_share_pct,
    count(*) AS sessions,
    sum(bar_count) AS bar_count
FROM daily
WHERE dt BETWEEN CAST(? AS varchar) AND CAST(? AS varchar)
GROUP BY symbol, "interval"
ORDER BY "interval", volume DESC, symbol
