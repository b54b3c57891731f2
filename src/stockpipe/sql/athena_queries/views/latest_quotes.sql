-- view: latest_quotes
-- purpose: The last bar per symbol and interval, with change and change % against the previous session's close (the session's first open when there is no earlier session).
-- pruning: no (it needs the latest session of every symbol); filter by dt to bound it
CREATE OR REPLACE VIEW latest_quotes AS
WITH sessions AS (
    SELECT
        symbol,
        "interval",
        dt,
        max_by(close, ts) AS session_close,
        min_by(open, ts) AS session_open,
        sum(volume) AS session_volume
    FROM bars
    GROUP BY symbol, "interval", dt
),
sessions_prev AS (
    SELECT
        symbol,
        "interval",
        dt,
        session_open,
        session_volume,
        coalesce(
            lag(session_close) OVER (PARTITION BY symbol, "interval" ORDER BY dt),
            session_open
        ) AS reference_price
    FROM sessions
),
ranked AS (
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
        row_number() OVER (PARTITION BY symbol, "interval" ORDER BY ts DESC) AS rn
    FROM bars
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
    s.session_volume,
    r.session_high,
    r.session_low,
    r.vwap,
    s.reference_price,
    r.close - s.reference_price AS change,
    100 * (r.close - s.reference_price) / nullif(s.reference_price, 0) AS change_pct
FROM ranked AS r
JOIN sessions_prev AS s
    ON s.symbol = r.symbol AND s."interval" = r."interval" AND s.dt = r.dt
WHERE r.rn = 1
