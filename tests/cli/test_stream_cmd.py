"""`stockpipe stream describe` reads `Stream.describe()`: the same report on either backend
(the Kinesis half is tests/aws/test_pipeline_moto.py::test_stream_commands_manage_a_kinesis_stream)."""

from __future__ import annotations

from pathlib import Path


def test_stream_describe_reports_the_embedded_stream(cli, home: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("stream", "describe")
    assert result.code == 0, result.err
    assert "stockpipe: ACTIVE, EMBEDDED, retention 24 h, 4 open shards, 0 records" in result.out
    assert result.out.count("shardId-") == 4 and "closed" not in result.out
    assert (home / "stream").is_dir()  # the embedded stream is created on first use
