-- name: measure_last_price
-- purpose: Power BI measure "Last Price": the close of the latest bar (by ts) of one symbol and interval among the sessions dt in [from_dt, to_dt].
-- params: symbol varchar, interval varchar, from_dt varchar, to_dt varchar
-- pruning: yes (dt)
SELECT "close" AS last_price
FROM bars
WHERE symbol = ?
    AND "interval" = ?
    AND dt BETWEEN ? AND ?
ORDER BY ts DESC
LIMIT 1
