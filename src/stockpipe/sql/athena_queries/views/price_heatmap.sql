-- view: price_heatmap
-- purpose: % change per symbol, interval and UTC hour bucket: from the first open to the last close of the bars that start in that hour.
-- pruning: yes (dt) when the caller filters on dt
CREATE OR REPLACE VIEW price_heatmap AS
SELECT
    symbol,
    "interval",
    dt,
    date_trunc('hour', ts) AS hour_bucket,
    min_by(open, ts) AS open,
    max_by(close, ts) AS close,
    100 * (max_by(close, ts) - min_by(open, ts)) / nullif(min_by(open, ts), 0) AS change_pct,
    sum(volume) AS volume,
    count(*) AS bar_count
FROM bars
GROUP BY symbol, "interval", dt, date_trunc('hour', ts)
