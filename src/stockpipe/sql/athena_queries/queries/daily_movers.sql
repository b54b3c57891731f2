-- name: daily_movers
-- purpose: Top gainers and losers of every session from a date on, optionally for one symbol only (empty symbol means all).
-- params: from date, symbol varchar = '', symbol varchar = ''
-- pruning: yes (dt)
SELECT dt, direction, mover_rank, symbol, "interval", close, volume, change, change_pct
FROM daily_movers
WHERE dt >= CAST(? AS varchar)
    AND (? = '' OR symbol = ?)
ORDER BY dt, "interval", direction, mover_rank
