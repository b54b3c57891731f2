"""The raw zone's format: every stream record exactly as received, as JSON lines.

Files are partitioned by UTC arrival date and hour, like Kinesis Firehose output with a
Hive-style prefix: `raw-data/dt=YYYY-MM-DD/hour=HH/<shard>-<first seq>.jsonl`.

A file is named after the first record it holds. After a crash before the checkpoint,
the consumer re-reads from the same record, so the re-written file has the same name and
replaces the partial one: each record lands in the raw zone exactly once.
"""

from __future__ import annotations

import base64
import json
from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

import msgspec

from stockpipe.contract import RAW
from stockpipe.lake.base import Lake, safe_relpath
from stockpipe.stream.base import StreamRecord


def envelope(record: StreamRecord, arrival: str | None = None) -> dict[str, str | None]:
    """The raw-zone line for one record; the payload is kept byte for byte. `arrival` is
    the record's arrival time as the line writes it, when the caller has it already."""
    try:
        text: str | None = record.data.decode("utf-8")
        b64 = None
    except UnicodeDecodeError:
        text, b64 = None, base64.b64encode(record.data).decode("ascii")
    return {
        "shard_id": record.shard_id,
        "sequence_number": record.sequence_number,
        "partition_key": record.partition_key,
        "arrival_ts": arrival or _iso(record.arrival_ts),
        "data": text,
        "data_b64": b64,
    }


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat(timespec="milliseconds")


def from_envelope(doc: dict[str, str | None]) -> StreamRecord:
    """Turn a raw-zone line back into the stream record it came from."""
    if doc.get("data_b64"):
        data = base64.b64decode(str(doc["data_b64"]))
    else:
        data = str(doc.get("data") or "").encode("utf-8")
    return StreamRecord(
        shard_id=str(doc["shard_id"]),
        sequence_number=str(doc["sequence_number"]),
        partition_key=str(doc["partition_key"]),
        data=data,
        arrival_ts=datetime.fromisoformat(str(doc["arrival_ts"])).astimezone(UTC),
    )


# One JSON document per line, compact; UTF-8 text stays UTF-8 (json.loads reads both).
_LINES = msgspec.json.Encoder()


def raw_path(record: StreamRecord) -> str:
    arrival = record.arrival_ts.astimezone(UTC)
    return safe_relpath(
        f"{RAW.prefix}/dt={arrival:%Y-%m-%d}/hour={arrival:%H}/"
        f"{record.shard_id}-{record.sequence_number}.jsonl"
    )


class RawArchiver:
    """Writes batches of stream records to the raw zone (the `archive` stage).

    A `Sink` (stream/sink.py): `add` collects records, `flush` writes them and commits no
    state. A flush that fails keeps the records, and writing them again replaces the same
    files, so a retry never doubles a record.
    """

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self._pending: list[StreamRecord] = []
        self.archived = 0  # records made durable by flush

    def add(self, records: Sequence[StreamRecord]) -> None:
        self._pending.extend(records)

    def flush(self) -> None:
        if self._pending:
            self.write(self._pending)
            self.archived += len(self._pending)
            self._pending = []

    def write(self, records: Sequence[StreamRecord]) -> int:
        """Write every record durably; returns how many files were written."""
        groups: dict[tuple[str, str, str], list[tuple[StreamRecord, str]]] = defaultdict(list)
        # Records of one put share an arrival time: format each distinct one once.
        stamps: dict[datetime, tuple[str, str, str]] = {}
        for rec in records:
            stamp = stamps.get(rec.arrival_ts)
            if stamp is None:
                arrival = rec.arrival_ts.astimezone(UTC)
                stamp = (f"{arrival:%Y-%m-%d}", f"{arrival:%H}", _iso(arrival))
                stamps[rec.arrival_ts] = stamp
            groups[(rec.shard_id, stamp[0], stamp[1])].append((rec, stamp[2]))
        for recs in groups.values():
            # One file per (shard, hour) run, named after its first record.
            body = _LINES.encode_lines([envelope(r, arrival) for r, arrival in recs])
            self.lake.write_bytes(raw_path(recs[0][0]), body)
        return len(groups)


def iter_raw(
    lake: Lake, from_date: str | None = None, to_date: str | None = None
) -> Iterator[StreamRecord]:
    """Every record of the raw zone (optionally by arrival date range), in file order."""
    for path in lake.list(RAW.prefix):
        if not path.endswith(".jsonl"):
            continue
        dt = next((p[3:] for p in path.split("/") if p.startswith("dt=")), "")
        if (from_date and dt < from_date) or (to_date and dt > to_date):
            continue
        for line in lake.read_bytes(path).splitlines():
            if line.strip():
                yield from_envelope(json.loads(line))
