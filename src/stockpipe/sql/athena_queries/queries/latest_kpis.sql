-- name: latest_kpis
-- purpose: Per symbol and interval: last price, change and change % against the previous session close, session high/low, session volume and VWAP. Empty symbols means every symbol.
-- params: symbols varchar = '', symbols varchar = ''
-- pruning: no (none needed: reads latest_quotes, which reads the small `latest` table and daily, never bars)
SELECT
    symbol,
    "interval",
    ts,
    close AS last_price,
    change,
    change_pct,
    session_high,
    session_low,
    session_volume AS volume,
    vwap
FROM latest_quotes
WHERE ? = '' OR contains(split(?, ','), symbol)
ORDER BY symbol, "interval"
