"""The Spark tests run the Spark line that production runs (Glue 5.0: 3.5.4; EMR 7.x: 3.5.x)."""

from __future__ import annotations

import pyspark


def test_pyspark_is_the_line_glue_and_emr_run(spark) -> None:  # type: ignore[no-untyped-def]
    # Code that passes on 4.x can fail on Glue 5.0, so the default suite must be on 3.5.
    assert pyspark.__version__.startswith("3.5."), pyspark.__version__
    assert spark.version.startswith("3.5."), spark.version
