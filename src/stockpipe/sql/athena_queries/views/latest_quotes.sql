-- view: latest_quotes
-- purpose: The last bar per symbol and interval, with change and change % against the previous trading day's regular-session close (from daily; the day's regular open, else its first open, when there is none), and the regular session's volume so far.
-- pruning: no (none needed): it reads the small `latest` table (one row per symbol, interval and session date) and daily, never bars
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
previous AS (
    SELECT l.symbol, l."interval", max_by(d.close, d.dt) AS prev_close
    FROM last_bar AS l
    JOIN daily AS d
        ON d.symbol = l.symbol AND d."interval" = l."interval" AND d.dt < l.dt
    GROUP BY l.symbol, l."interval"
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
