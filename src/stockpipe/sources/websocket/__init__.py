"""Live websocket sources: Alpaca (bars, updatedBars, trades) and Finnhub (trades)."""
