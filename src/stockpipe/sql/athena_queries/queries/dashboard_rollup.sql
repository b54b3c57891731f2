-- name: dashboard_rollup
-- purpose: Dashboard bars at a coarser interval than stored: per symbol and bucket, OHLCV rolled up from the stored bars (bucket_seconds below 86400: clock-aligned buckets; 86400: one bar per session date dt) with the session VWAP at the bucket's last bar.
-- params: bucket_seconds bigint, symbols varchar, interval varchar, from_ts timestamp, to_ts timestamp, from_dt varchar, to_dt varchar
-- pruning: yes (dt): from_dt/to_dt bound the session-date partitions
-- Why max_by(vwap, ts): the stored vwap is cumulative within the session, so its value at
-- the bucket's last bar is the session VWAP at the end of the bucket, exactly.
-- Why group by dt too: a day bucket is a session (its New York date), not a UTC day; an
-- intraday bucket never spans two dates because New York is a whole number of hours off UTC.
WITH params AS (
    SELECT CAST(? AS bigint) AS secs
),
sel AS (
    SELECT symbol, dt, ts, "open", high, low, "close", volume, vwap
    FROM bars
    WHERE strpos(',' || ? || ',', ',' || symbol || ',') > 0
        AND "interval" = ?
        AND ts >= ?
        AND ts <= ?
        AND dt BETWEEN ? AND ?
),
keyed AS (
    SELECT
        s.symbol,
        s.dt,
        s.ts,
        s."open",
        s.high,
        s.low,
        s."close",
        s.volume,
        s.vwap,
        p.secs,
        CASE
            WHEN p.secs >= 86400 THEN CAST(0 AS bigint)
            ELSE CAST(floor(to_unixtime(s.ts) / p.secs) * p.secs AS bigint)
        END AS k
    FROM sel s
    CROSS JOIN params p
),
rolled AS (
    SELECT
        symbol,
        dt,
        -- One type on both branches (Trino's from_unixtime gives a timestamp with time zone).
        from_unixtime(
            CASE
                WHEN max(secs) >= 86400 THEN to_unixtime(min(ts))
                ELSE CAST(max(k) AS double)
            END
        ) AS bucket_ts,
        min_by("open", ts) AS first_open,
        max(high) AS max_high,
        min(low) AS min_low,
        max_by("close", ts) AS last_close,
        sum(volume) AS total_volume,
        max_by(vwap, ts) AS last_vwap,
        count(*) AS bar_count
    FROM keyed
    GROUP BY symbol, dt, k
)
SELECT
    symbol,
    dt,
    bucket_ts AS ts,
    first_open AS "open",
    max_high AS high,
    min_low AS low,
    last_close AS "close",
    total_volume AS volume,
    last_vwap AS vwap,
    bar_count
FROM rolled
ORDER BY symbol, bucket_ts
