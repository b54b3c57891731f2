"""stockpipe's Spark job: raw-data/ or Kinesis -> processed-data/ and quarantine/.

A thin entry point; the logic is `stockpipe.spark` (installed from the wheel that
`make glue-artifacts` builds). Runs with spark-submit, as an AWS Glue 5.0 script, on
EMR, and with plain `python process_bars.py --source raw --raw LAKE --out LAKE`.
See docs/spark.md.
"""

from __future__ import annotations

import sys

from stockpipe.spark.job import main

if __name__ == "__main__":
    sys.exit(main())
