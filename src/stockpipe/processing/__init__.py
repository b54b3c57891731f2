"""The processing stage: cleaning, deduplication, indicators, bars/daily/quarantine."""

from __future__ import annotations

from stockpipe.processing.base import BatchStats, CleanBar, QuarantineRow
from stockpipe.processing.cleaning import clean, clean_batch
from stockpipe.processing.indicators import compute_daily, compute_indicators

__all__ = [
    "BatchStats",
    "CleanBar",
    "QuarantineRow",
    "clean",
    "clean_batch",
    "compute_daily",
    "compute_indicators",
]
