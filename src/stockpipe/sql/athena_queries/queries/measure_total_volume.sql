-- name: measure_total_volume
-- purpose: Power BI measure "Total Volume": the sum of volume over the bars of one symbol and interval, sessions dt in [from_dt, to_dt].
-- params: symbol varchar, interval varchar, from_dt varchar, to_dt varchar
-- pruning: yes (dt)
SELECT sum(volume) AS total_volume
FROM bars
WHERE symbol = ?
    AND "interval" = ?
    AND dt BETWEEN ? AND ?
