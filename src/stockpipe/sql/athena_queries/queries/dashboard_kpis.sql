-- name: dashboard_kpis
-- purpose: Dashboard KPI cards: per selected symbol, the last bar at or before the end of the window, its change against the previous trading day's last regular-session close (or the day's regular open on the first day), the regular session's high, low and volume so far, and its VWAP.
-- params: symbols varchar, interval varchar, to_dt varchar, from_dt varchar = '', symbols varchar, interval varchar, to_ts timestamp, to_dt varchar, from_dt varchar = '', symbols varchar, symbols varchar, interval varchar, to_ts timestamp, to_dt varchar, from_dt varchar = ''
-- pruning: yes (dt): reads bars from the earliest of the selected symbols' two latest dates in the small `latest` table up to to_dt; older partitions only when some symbol has no regular-session bar before its last date there (exact whatever `latest` holds); a subquery bound does not prune under Athena's partition projection, so the dashboard on Athena also gives the literal from_dt (default '': no lower bound)
-- Why two scans: a symbol's last bar, its session and its previous regular close are all
-- in `recent` when it holds a regular-session bar of a date before the symbol's last one,
-- because dt grows with ts. `latest` (one row per symbol, interval and date with bars)
-- only picks the bound; any symbol `recent` does not cover turns on the scan of the older
-- dts.
WITH hint AS (
    SELECT dt, row_number() OVER (PARTITION BY symbol ORDER BY dt DESC) AS k
    FROM latest
    WHERE strpos(',' || ? || ',', ',' || symbol || ',') > 0
        AND "interval" = ?
        AND dt <= ?
        AND dt >= ?
),
bound AS (
    SELECT coalesce(min(dt), '') AS from_dt FROM hint WHERE k <= 2
),
recent AS (
    SELECT symbol, dt, ts, "open", high, low, "close", volume, vwap, "session"
    FROM bars
    WHERE strpos(',' || ? || ',', ',' || symbol || ',') > 0
        AND "interval" = ?
        AND ts <= ?
        AND dt <= ?
        AND dt >= ?
        AND dt >= (SELECT from_dt FROM bound)
),
covered AS (
    SELECT count(*) AS n
    FROM (
        SELECT symbol
        FROM recent
        GROUP BY symbol
        HAVING min(CASE WHEN "session" = 'regular' THEN dt END) < max(dt)
    ) AS c
),
older_to AS (
    SELECT
        CASE
            WHEN (SELECT n FROM covered) >= cardinality(array_distinct(split(?, ',')))
                THEN ''
            ELSE (SELECT from_dt FROM bound)
        END AS below
),
sel AS (
    SELECT * FROM recent
    UNION ALL
    SELECT symbol, dt, ts, "open", high, low, "close", volume, vwap, "session"
    FROM bars
    WHERE strpos(',' || ? || ',', ',' || symbol || ',') > 0
        AND "interval" = ?
        AND ts <= ?
        AND dt <= ?
        AND dt >= ?
        AND dt < (SELECT below FROM older_to)
),
ranked AS (
    SELECT
        sel.*,
        row_number() OVER (PARTITION BY symbol ORDER BY ts DESC) AS rn
    FROM sel
),
last_bar AS (
    SELECT symbol, dt, ts, "close", vwap FROM ranked WHERE rn = 1
),
session AS (
    SELECT
        s.symbol,
        max(s.high) AS session_high,
        min(s.low) AS session_low,
        sum(s.volume) AS session_volume,
        min_by(s."open", s.ts) AS session_open
    FROM sel s
    JOIN last_bar l ON s.symbol = l.symbol AND s.dt = l.dt
    WHERE s."session" = 'regular'
    GROUP BY s.symbol
),
previous AS (
    SELECT s.symbol, max_by(s."close", s.ts) AS prev_close
    FROM sel s
    JOIN last_bar l ON s.symbol = l.symbol AND s.dt < l.dt
    WHERE s."session" = 'regular'
    GROUP BY s.symbol
)
SELECT
    l.symbol,
    l.ts AS last_ts,
    l.dt AS session,
    l."close" AS last_price,
    coalesce(p.prev_close, se.session_open) AS reference_price,
    l."close" - coalesce(p.prev_close, se.session_open) AS change,
    100 * (l."close" - coalesce(p.prev_close, se.session_open))
        / coalesce(p.prev_close, se.session_open) AS change_pct,
    se.session_high,
    se.session_low,
    se.session_volume AS volume,
    l.vwap
FROM last_bar l
LEFT JOIN session se ON se.symbol = l.symbol
LEFT JOIN previous p ON p.symbol = l.symbol
ORDER BY l.symbol
