"""The health panel reads the stream, the metrics and the run state through their contracts
(`Stream.describe()`/`pending()`, `Metrics.read()`, stockpipe/home.py), never asking which
backend it talks to (issue 16 item 5). The Kinesis half is in tests/aws/test_backend_parity.py.
"""

from __future__ import annotations

from stockpipe.config import load_settings
from stockpipe.dashboard.health import HealthReader
from stockpipe.lake.checkpoints import LakeCheckpointStore
from stockpipe.lake.local import LocalLake
from stockpipe.metrics import get_metrics
from stockpipe.metrics.local import LocalMetrics
from stockpipe.stream.base import Stream
from stockpipe.stream.checkpoint import Checkpoint
from stockpipe.stream.local import LocalStream


class CountingStream(LocalStream):
    """The embedded stream, counting the contract calls the health panel makes."""

    calls: list[str] = []

    def describe(self):  # type: ignore[no-untyped-def]
        self.calls.append("describe")
        return super().describe()

    def close(self) -> None:
        self.calls.append("close")
        super().close()


def test_health_counts_pending_records_through_the_stream_contract(tmp_path) -> None:
    settings = load_settings({"home": str(tmp_path / "home")}).settings
    lake = LocalLake(tmp_path / "lake")
    path = tmp_path / "stream.db"
    seed = LocalStream(path, shard_count=2)
    results = seed.put_records([(f"S{i}", b"x") for i in range(10)])
    seed.close()
    # The archiver committed the first record of each shard it saw.
    first: dict[str, str] = {}
    for r in results:
        first.setdefault(r.shard_id, r.sequence_number)
    LakeCheckpointStore(lake).save(Checkpoint("archive", shards=first))

    def opener() -> Stream:
        return CountingStream(path, shard_count=2)

    CountingStream.calls = []
    health = HealthReader(settings, lake, open_stream=opener).read()
    assert {c["name"]: c["pending"] for c in health["consumers"]} == {"archive": 10 - len(first)}
    assert health["stream"] == {
        "name": "stockpipe",
        "kind": "local",
        "status": "ACTIVE",
        "open_shards": 2,
        "records": 10,
    }
    assert CountingStream.calls == ["describe", "close"]  # one stream per reading, closed


def test_health_on_an_empty_home_has_no_stream(tmp_path) -> None:
    settings = load_settings({"home": str(tmp_path / "home")}).settings
    health = HealthReader(settings, LocalLake(tmp_path / "lake")).read()
    assert health["stream"] is None and health["errors"] == []
    assert not settings.stream_path.exists()
    assert isinstance(get_metrics(settings), LocalMetrics)
