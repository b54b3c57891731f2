-- name: dashboard_buckets
-- purpose: Dashboard volume chart and price-movement heatmap: per symbol and time bucket, the traded volume and the % change from the bucket's first open to its last close.
-- params: bucket_seconds bigint, symbols varchar, interval varchar, from_ts timestamp, to_ts timestamp, from_dt varchar, to_dt varchar
-- pruning: yes
-- A bucket of 86400 s or more is one session (its New York date dt), not a UTC day.
WITH params AS (
    SELECT CAST(? AS bigint) AS secs
),
sel AS (
    SELECT symbol, dt, ts, "open", "close", volume
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
        s.dt,
        CASE
            WHEN p.secs >= 86400 THEN CAST(0 AS bigint)
            ELSE CAST(floor(to_unixtime(s.ts) / p.secs) * p.secs AS bigint)
        END AS k,
        p.secs,
        s.ts,
        s."open",
        s."close",
        s.volume
    FROM sel s
    CROSS JOIN params p
)
SELECT
    symbol,
    -- One type on both branches (Trino's from_unixtime gives a timestamp with time zone).
    from_unixtime(
        CASE
            WHEN max(secs) >= 86400 THEN to_unixtime(min(ts))
            ELSE CAST(max(k) AS double)
        END
    ) AS bucket,
    sum(volume) AS volume,
    min_by("open", ts) AS first_open,
    max_by("close", ts) AS last_close,
    100 * (max_by("close", ts) - min_by("open", ts)) / min_by("open", ts) AS change_pct,
    count(*) AS bar_count
FROM bucketed
GROUP BY symbol, dt, k
ORDER BY symbol, bucket
