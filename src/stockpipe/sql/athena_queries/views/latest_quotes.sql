-- view: latest_quotes
-- purpose: The last bar per symbol and interval, with change and change % against the previous trading day's regular-session close (from daily; the day's regular open, else its first open, when there is none), and the regular session's volume so far.
-- pruning: yes (dt) on daily: the previous close is looked for from the earliest of the series' previous dates in `latest` on (one or two partitions), and before it only when some series has no daily row there (exact whatever daily holds); it reads the small `latest` table, never bars
-- Why two looks at daily: daily has a row for each date with a regular-session bar, and
-- `latest` a row for each date with any bar, so a series' previous daily row is at or
-- before its previous date in `latest`. A series with no daily row from that bound on
-- turns on the look at the older dates.
CREATE OR REPLACE VIEW latest_quotes AS
WITH ranked AS (
    SELECT
        symbol,
        "interval",
        dt,
        ts,
        open,
        high,
        low,
        close,
        volume,
        vwap,
        session_high,
        session_low,
        day_open,
        row_number() OVER (PARTITION BY symbol, "interval" ORDER BY ts DESC) AS rn
    FROM latest
),
last_bar AS (
    SELECT * FROM ranked WHERE rn = 1
),
bound AS (
    SELECT coalesce(min(dt), '') AS from_dt FROM ranked WHERE rn = 2
),
recent AS (
    SELECT l.symbol, l."interval", max_by(d.close, d.dt) AS prev_close
    FROM last_bar AS l
    JOIN daily AS d
        ON d.symbol = l.symbol AND d."interval" = l."interval" AND d.dt < l.dt
    WHERE d.dt >= (SELECT from_dt FROM bound)
    GROUP BY l.symbol, l."interval"
),
older_to AS (
    SELECT
        CASE
            WHEN (SELECT count(*) FROM recent) >= (SELECT count(*) FROM last_bar) THEN ''
            ELSE (SELECT from_dt FROM bound)
        END AS below
),
older AS (
    SELECT l.symbol, l."interval", max_by(d.close, d.dt) AS prev_close
    FROM last_bar AS l
    JOIN daily AS d
        ON d.symbol = l.symbol AND d."interval" = l."interval" AND d.dt < l.dt
    WHERE d.dt < (SELECT below FROM older_to)
    GROUP BY l.symbol, l."interval"
),
previous AS (
    SELECT r.symbol, r."interval", r.prev_close FROM recent AS r
    UNION ALL
    SELECT o.symbol, o."interval", o.prev_close
    FROM older AS o
    LEFT JOIN recent AS r ON r.symbol = o.symbol AND r."interval" = o."interval"
    WHERE r.symbol IS NULL
)
SELECT
    r.symbol,
    r."interval",
    r.dt,
    r.ts,
    r.open,
    r.high,
    r.low,
    r.close,
    r.volume,
    t.volume AS session_volume,
    r.session_high,
    r.session_low,
    r.vwap,
    coalesce(p.prev_close, t.open, r.day_open) AS reference_price,
    r.close - coalesce(p.prev_close, t.open, r.day_open) AS change,
    100 * (r.close - coalesce(p.prev_close, t.open, r.day_open))
        / nullif(coalesce(p.prev_close, t.open, r.day_open), 0) AS change_pct
FROM last_bar AS r
LEFT JOIN daily AS t
    ON t.symbol = r.symbol AND t."interval" = r."interval" AND t.dt = r.dt
LEFT JOIN previous AS p ON p.symbol = r.symbol AND p."interval" = r."interval"
