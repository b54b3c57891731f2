"""The PySpark engine: the same processing as `stockpipe.processing`, distributed.

`reprocess_spark` rebuilds processed-data/ from raw-data/; `process_envelopes` is the
batch function every streaming micro-batch goes through. PySpark is imported lazily,
so importing this package never needs Spark.
"""

from __future__ import annotations

from stockpipe.spark.batch import process_envelopes, read_raw, reprocess_spark
from stockpipe.spark.session import build_session

__all__ = ["build_session", "process_envelopes", "read_raw", "reprocess_spark"]
