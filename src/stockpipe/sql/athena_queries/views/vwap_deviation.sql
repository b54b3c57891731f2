-- view: vwap_deviation
-- purpose: Each bar's close against its regular-session VWAP so far: deviation = close - vwap, and deviation_pct = 100 * deviation / vwap (pre-market and closed-day bars have no VWAP; after-hours bars compare with the day's final one).
-- pruning: yes (dt) when the caller filters on dt
CREATE OR REPLACE VIEW vwap_deviation AS
SELECT
    symbol,
    "interval",
    dt,
    ts,
    close,
    vwap,
    close - vwap AS deviation,
    100 * (close - vwap) / vwap AS deviation_pct
FROM bars
WHERE vwap > 0
