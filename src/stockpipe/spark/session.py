"""The SparkSession every stockpipe Spark entry point uses: loopback, UTC, Arrow on."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

DEFAULT_MASTER = "local[*]"


def build_session(
    master: str | None = DEFAULT_MASTER,
    app_name: str = "stockpipe",
    conf: dict[str, str] | None = None,
) -> SparkSession:
    """A SparkSession; `master=None` keeps whatever spark-submit, Glue or EMR configured."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name)
    if master is not None:
        builder = builder.master(master)
    settings = {
        # Bar times are UTC; Spark must not shift them into the machine's zone.
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        # Partition files travel between tasks as Parquet bytes of one series and day.
        "spark.sql.execution.arrow.maxRecordsPerBatch": "10000",
    }
    if master is not None and master.startswith("local"):
        # Local mode: workers run this interpreter, nothing listens beyond loopback.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        settings.update(
            {
                "spark.driver.host": "127.0.0.1",
                "spark.driver.bindAddress": "127.0.0.1",
                "spark.ui.enabled": "false",
                "spark.ui.showConsoleProgress": "false",
                "spark.sql.shuffle.partitions": "4",
                # Issue 21: a batch job here is short, and C2 compiling the JVM's hot code
                # cost more CPU than it ever won back (11.6 of 36 CPU-s at 117k bars).
                "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1",
            }
        )
    settings.update(conf or {})
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark
