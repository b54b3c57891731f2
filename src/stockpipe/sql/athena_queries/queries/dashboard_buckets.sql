-- name: dashboard_buckets
-- purpose: Dashboard volume chart and price-movement heatmap: per symbol and time bucket, the traded volume and the % change from the bucket's first open to its last close.
-- params: bucket_seconds bigint, symbols varchar, interval varchar, from_ts timestamp, to_ts timestamp, from_dt varchar, to_dt varchar
-- pruning: yes
WITH params AS (
    SELECT CAST(? AS bigint) AS secs
),
sel AS (
    SELECT symbol, ts, "open", "close", volume
    FROM bars
    WHERE strpos(',' || ? || ',', ',' || symbol || ',') > 0
        AND "interval" = ?
        AND ts >= ?
        AND ts <= ?
        AND dt BETWEEN ? AND ?
),
bucketed AS (
    SELECT
        s.symbol,
        from_unixtime(floor(to_unixtime(s.ts) / p.secs) * p.secs) AS bucket,
        s.ts,
        s."open",
        s."close",
        s.volume
    FROM sel s
    CROSS JOIN params p
)
SELECT
    symbol,
    bucket,
    sum(volume) AS volume,
    min_by("open", ts) AS first_open,
    max_by("close", ts) AS last_close,
    100 * (max_by("close", ts) - min_by("open", ts)) / min_by("open", ts) AS change_pct,
    count(*) AS bar_count
FROM bucketed
GROUP BY symbol, bucket
ORDER BY symbol, bucket
