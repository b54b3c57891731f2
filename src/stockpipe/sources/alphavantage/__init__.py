"""Alpha Vantage: REST polling of TIME_SERIES_INTRADAY.

One module per concern: `client` (HTTP), `parse` (bodies to bars), `errors` (the refusal
taxonomy and key redaction), `budget` (the request budget) and `source` (the polling source).
"""

from stockpipe.sources.alphavantage.budget import BudgetExhaustedError, RequestBudget
from stockpipe.sources.alphavantage.client import AlphaVantageClient
from stockpipe.sources.alphavantage.errors import (
    AlphaVantageError,
    BurstLimitError,
    DailyLimitError,
    InvalidKeyError,
    PremiumEndpointError,
    RateLimitError,
    SymbolError,
    TransportError,
    redact,
)
from stockpipe.sources.alphavantage.source import AlphaVantageSource, EmittedLog

__all__ = [
    "AlphaVantageClient",
    "AlphaVantageError",
    "AlphaVantageSource",
    "BudgetExhaustedError",
    "BurstLimitError",
    "DailyLimitError",
    "EmittedLog",
    "InvalidKeyError",
    "PremiumEndpointError",
    "RateLimitError",
    "RequestBudget",
    "SymbolError",
    "TransportError",
    "redact",
]
