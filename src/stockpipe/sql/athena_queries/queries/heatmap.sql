-- name: heatmap
-- purpose: % change per symbol and UTC hour bucket for the buckets that start in [from_ts, to_ts); empty symbols means every symbol.
-- params: from_ts timestamp, to_ts timestamp, from_ts timestamp, to_ts timestamp, symbols varchar = '', symbols varchar = ''
-- pruning: yes (dt): the UTC dates of the window, widened by one day for New York session dates
SELECT symbol, "interval", hour_bucket, open, close, change_pct, volume, bar_count
FROM price_heatmap
WHERE hour_bucket >= ?
    AND hour_bucket < ?
    AND dt >= date_format(? - INTERVAL '1' DAY, '%Y-%m-%d')
    AND dt <= date_format(?, '%Y-%m-%d')
    AND (? = '' OR contains(split(?, ','), symbol))
ORDER BY symbol, "interval", hour_bucket
