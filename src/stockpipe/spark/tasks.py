"""What runs inside Spark tasks: plain pandas-in, pandas-out functions around the engine.

Nothing here re-implements processing. A task routes raw envelopes by what
`processing.cleaning.clean` says about them, runs `processing.engine.Processor` on one
(symbol, interval) series (or on one day of rejected records) inside a `MemoryLake`,
and merges the partition files the engine wrote into the real lake with the engine's
own `PartitionSet` (same schema, sort order, file name and atomic replace).

Partition files travel between tasks as Parquet bytes, never as Spark rows, so every
double, timestamp and NULL arrives bit for bit as the engine wrote it.
"""

from __future__ import annotations

import io
import json
import re
import zlib
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC

import msgspec
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from stockpipe.contract import BARS, DAILY, INTERVALS, QUARANTINE, RAW, SYMBOL_RE
from stockpipe.lake import Lake, open_lake
from stockpipe.lake.manifest import read_partition
from stockpipe.lake.memory import MemoryLake
from stockpipe.lake.partitions import from_arrow
from stockpipe.lake.raw import from_envelope
from stockpipe.processing.base import BatchStats, CleanBar, position
from stockpipe.processing.cleaning import clean
from stockpipe.processing.engine import Processor
from stockpipe.processing.zone import SERIES_INDEX, processed_partitions
from stockpipe.stream.base import StreamRecord

ENVELOPE = tuple(RAW.column_names)
ENVELOPE_DDL = ", ".join(f"{name} string" for name in ENVELOPE)
ROUTED_DDL = f"bucket int, group string, {ENVELOPE_DDL}"
STORED_DDL = "bucket int, group string, dt string, name string, data binary"
# One row per partition file a bucket produced; table "_stats" rows carry BatchStats JSON,
# table "_spans" rows the bars dates each series was written at ({"SYM|INT": [dt, ...]}).
OUTPUT_DDL = "table string, dt string, group string, data binary"
WRITTEN_DDL = "table string, dt string, rows long"

TABLES = {"bars": BARS, "daily": DAILY, "quarantine": QUARANTINE}
STATS = "_stats"
SPANS = "_spans"
META = (STATS, SPANS)
_DT_SEGMENT = re.compile(r"(?:^|/)dt=(\d{4}-\d{2}-\d{2})/")


def series_group(symbol: str, interval: str) -> str:
    # "|" never occurs in a symbol (SYMBOL_RE) or an interval (INTERVALS).
    return f"bars|{symbol}|{interval}"


def quarantine_group(dt: str) -> str:
    return f"quarantine|{dt}"


def path_dt(path: str) -> str:
    found = _DT_SEGMENT.search(path)
    return found.group(1) if found else ""


def _docs(pdf: pd.DataFrame) -> list[dict[str, str | None]]:
    """The envelopes as dicts, a missing value as None (issue 21: column lists, not
    `to_dict("records")`, which boxed every cell and cost more than routing itself)."""
    columns = [[_text(v) for v in pdf[name].tolist()] for name in ENVELOPE]
    return [dict(zip(ENVELOPE, row, strict=True)) for row in zip(*columns, strict=True)]


def _text(value: object) -> str | None:
    # Every envelope column is a string; pandas may hand a missing one as NaN.
    return None if value is None or isinstance(value, float) else str(value)


class _SeriesKey(msgspec.Struct, gc=False):
    """The two fields that pick a record's group; the rest of the payload is not read."""

    symbol: str
    interval: str


_SERIES_KEY = msgspec.json.Decoder(_SeriesKey)


def group_of(record: StreamRecord) -> str:
    """The group that processes `record`, without cleaning it (issue 21 item 6: the
    group's engine cleans each record once, in bulk).

    A payload whose symbol and interval decode and are valid goes to its series; if the
    rest of it is bad, that series' engine quarantines it with `clean`'s reason. Anything
    else (not JSON, a missing or odd symbol or interval) is decided by `clean` itself, so
    a record that is a valid bar after all (JSON that only Python's parser reads, such as
    a NaN price) still reaches its series, and a rejected one its arrival day's group.
    """
    try:
        key = _SERIES_KEY.decode(record.data)
    except msgspec.DecodeError:
        key = None
    if key is not None and SYMBOL_RE.fullmatch(key.symbol) and key.interval in INTERVALS:
        return series_group(key.symbol, key.interval)
    result = clean(record)
    if isinstance(result, CleanBar):
        return series_group(result.symbol, result.interval)
    return quarantine_group(f"{result.arrival_ts.astimezone(UTC):%Y-%m-%d}")


def bucket_of(group: str, labels: Sequence[int]) -> int:
    """The bucket (one Spark task) that processes `group`: a stable hash into `labels`."""
    return labels[zlib.crc32(group.encode()) % len(labels)]


def route(batches: Iterable[pd.DataFrame], labels: Sequence[int] = (0,)) -> Iterator[pd.DataFrame]:
    """mapInPandas: tag each raw envelope with the group that will process it, and the
    group with its bucket."""
    for pdf in batches:
        yield _routed(_docs(pdf), labels)


def _routed(docs: Sequence[dict[str, str | None]], labels: Sequence[int]) -> pd.DataFrame:
    groups = [group_of(from_envelope(doc)) for doc in docs]
    out = pd.DataFrame([[doc.get(k) for k in ENVELOPE] for doc in docs], columns=ENVELOPE)
    out.insert(0, "group", groups)
    out.insert(0, "bucket", [bucket_of(g, labels) for g in groups])
    return out


def route_files(
    batches: Iterable[pd.DataFrame], location: str, region: str | None, labels: Sequence[int]
) -> Iterator[pd.DataFrame]:
    """mapInPandas over raw-data/ file paths of the lake at `location`: each file's
    envelopes, routed (issue 21: read here, not by Spark's JSON source, so no row of them
    crosses into the JVM and back before it is routed)."""
    lake = open_lake(location, region)
    for pdf in batches:
        for path in pdf["path"]:
            lines = lake.read_bytes(str(path)).splitlines()
            docs = [json.loads(line) for line in lines if line.strip()]
            if docs:
                yield _routed(docs, labels)


def split_stored(
    batches: Iterable[pd.DataFrame], labels: Sequence[int] = (0,)
) -> Iterator[pd.DataFrame]:
    """mapInPandas over binaryFile rows of processed-data/bars: one row per series and file."""
    for pdf in batches:
        rows: list[tuple[int, str, str, str, bytes]] = []
        for path, content in zip(pdf["path"], pdf["content"], strict=True):
            table = pq.read_table(io.BytesIO(content))
            dt, name = path_dt(str(path)), str(path).rsplit("/", 1)[-1]
            if not dt or table.num_rows == 0:
                continue
            pairs = table.select(["symbol", "interval"]).group_by(["symbol", "interval"])
            for pair in pairs.aggregate([]).to_pylist():
                mask = pc.and_(
                    pc.equal(table["symbol"], pair["symbol"]),
                    pc.equal(table["interval"], pair["interval"]),
                )
                group = series_group(pair["symbol"], pair["interval"])
                part = _parquet(table.filter(mask))
                rows.append((bucket_of(group, labels), group, dt, name, part))
        yield pd.DataFrame(rows, columns=["bucket", "group", "dt", "name", "data"])


def _parquet(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


def run_group(
    envelopes: pd.DataFrame, stored: pd.DataFrame, indicator_sessions: Sequence[str]
) -> pd.DataFrame:
    """The embedded engine on one group, in a MemoryLake, with the indicator bars the
    driver settled; `stored` holds the group's stored bars files."""
    if envelopes.empty:
        return pd.DataFrame(columns=_COLUMNS)
    group = str(envelopes["group"].iat[0])
    return _run(envelopes, stored if group.startswith("bars|") else None, indicator_sessions, group)


def _run(
    envelopes: pd.DataFrame,
    stored: pd.DataFrame | None,
    indicator_sessions: Sequence[str],
    group: str,
) -> pd.DataFrame:
    """One engine run over `envelopes` (with the stored files of their one series, if
    any); its output rows are labelled `group`."""
    mem = MemoryLake()
    if stored is not None and not stored.empty:
        _, symbol, interval = group.split("|")
        for dt, name, data in zip(stored["dt"], stored["name"], stored["data"], strict=True):
            mem.write_bytes(f"{BARS.prefix}/dt={dt}/{name}", bytes(data))
        dts = sorted(set(stored["dt"]))
        # The engine finds a series' stored partitions through its index.
        index = {f"{symbol}|{interval}": [dts[0], dts[-1]]}
        mem.write_bytes(SERIES_INDEX, json.dumps(index).encode())
    # One record per stream position, in arrival order, as engine.reprocess feeds them.
    unique: dict[tuple[str, str], StreamRecord] = {}
    for doc in _docs(envelopes):
        record = from_envelope(doc)
        unique.setdefault((record.shard_id, record.sequence_number), record)
    records = sorted(unique.values(), key=lambda r: position(r.shard_id, r.sequence_number))
    mem.written.clear()
    stats = Processor(mem, indicator_sessions, record=False).process(records)
    rows = [(table, dt, group, data) for table, dt, data in _partitions_written(mem)]
    rows.append((STATS, "", group, json.dumps(stats.to_state()).encode()))
    return pd.DataFrame(rows, columns=_COLUMNS)


def run_bucket(
    envelopes: pd.DataFrame, stored: pd.DataFrame, indicator_sessions: Sequence[str]
) -> pd.DataFrame:
    """cogroup.applyInPandas over one bucket of groups (issue 21: a task per series was
    far too many tasks and engine runs).

    The groups without stored bars (every group of a full rebuild, and the quarantine
    groups) run through one engine, as `engine.reprocess` runs them all: none of them has
    stored rows, so a series is in a written bars file only where the engine wrote its
    bars. A series with stored bars runs alone (`run_group`), so its files hold only the
    partitions the engine rewrote for it. Each run adds a `_spans` row: the bars dates
    written per series, which the driver orders the writes by.
    """
    if envelopes.empty:
        return pd.DataFrame(columns=_COLUMNS)
    alone = set(stored["group"]) if not stored.empty else set()
    shared = ~envelopes["group"].isin(alone)
    outs = []
    if shared.any():
        out = _run(
            envelopes[shared], None, indicator_sessions, f"bucket|{envelopes['bucket'].iat[0]}"
        )
        spans: dict[str, list[str]] = {}
        for dt, data in zip(
            out["dt"][out["table"] == "bars"], out["data"][out["table"] == "bars"], strict=True
        ):
            for key in _series_in(bytes(data)):
                spans.setdefault(key, []).append(str(dt))
        outs.append(_with_spans(out, spans))
    for group in sorted(alone & set(envelopes["group"])):
        out = run_group(
            envelopes[envelopes["group"] == group],
            stored[stored["group"] == group],
            indicator_sessions,
        )
        key = group.split("|", 1)[1]
        outs.append(_with_spans(out, {key: list(out["dt"][out["table"] == "bars"])}))
    return pd.concat(outs, ignore_index=True)


_COLUMNS = ["table", "dt", "group", "data"]


def _with_spans(out: pd.DataFrame, spans: dict[str, list[str]]) -> pd.DataFrame:
    doc = json.dumps({key: sorted(dts) for key, dts in sorted(spans.items())}).encode()
    row = pd.DataFrame([(SPANS, "", str(out["group"].iat[-1]), doc)], columns=_COLUMNS)
    return pd.concat([out, row], ignore_index=True)


def _series_in(data: bytes) -> list[str]:
    """The "symbol|interval" keys of the rows of a bars file."""
    table = pq.read_table(io.BytesIO(data), columns=["symbol", "interval"])
    pairs = table.group_by(["symbol", "interval"]).aggregate([]).to_pylist()
    return [f"{p['symbol']}|{p['interval']}" for p in pairs]


def read_spans(docs: Iterable[bytes]) -> dict[str, tuple[str, str]]:
    """The first and last bars date written per series, from the `_spans` rows."""
    spans: dict[str, tuple[str, str]] = {}
    for doc in docs:
        for key, dts in json.loads(bytes(doc)).items():
            if not dts:
                continue
            old = spans.get(key)
            first, last = (min(dts[0], old[0]), max(dts[-1], old[1])) if old else (dts[0], dts[-1])
            spans[key] = (first, last)
    return spans


def _partitions_written(mem: MemoryLake) -> Iterator[tuple[str, str, bytes]]:
    """(table, dt, Parquet bytes of every row of that partition) for each partition the
    engine wrote: read through the partition's manifests, so a partition the engine
    appended to ships its stored rows too (the merge replaces a series' rows)."""
    touched: dict[tuple[str, str], None] = {}
    for path in mem.written:
        table = next((n for n, t in TABLES.items() if path.startswith(t.prefix + "/")), None)
        dt = path_dt(path)
        if table is not None and dt:
            touched[(table, dt)] = None
    for table, dt in touched:
        files = [f for f in read_partition(mem, TABLES[table].prefix, dt).files if mem.exists(f)]
        if len(files) == 1:
            yield table, dt, mem.read_bytes(files[0])  # as the engine wrote it, bit for bit
        elif files:
            yield table, dt, _parquet(pa.concat_tables([mem.read_parquet(f) for f in files]))


def merge_partition(lake: Lake, table: str, dt: str, payloads: Iterable[bytes]) -> int:
    """Merge group outputs into partition `dt` of `table`, written by the engine's store.

    bars/daily: a group's file holds every row of its series in that partition, so those
    series' stored rows are replaced. quarantine: rows are added once per stream position.
    """
    part = processed_partitions(lake)[table]
    frames = [from_arrow(pq.read_table(io.BytesIO(bytes(p))), part.schema) for p in payloads]
    frames = [f for f in frames if not f.empty]
    if not frames:
        return 0
    new = pd.concat(frames, ignore_index=True)
    new["dt"] = dt
    stored = part.get(dt)
    if table == "quarantine":
        parts = [stored, new] if not stored.empty else [new]
        merged = pd.concat(parts, ignore_index=True).drop_duplicates(
            ["shard_id", "sequence_number"]
        )
    else:
        touched = set(zip(new["symbol"], new["interval"], strict=True))
        mine = [k in touched for k in zip(stored["symbol"], stored["interval"], strict=True)]
        keep = stored[~pd.Series(mine, index=stored.index, dtype=bool)]
        merged = pd.concat([keep, new] if not keep.empty else [new], ignore_index=True)
    part.put(dt, merged)
    part.flush()
    return len(merged)


def write_partitions(location: str, pdf: pd.DataFrame, region: str | None = None) -> pd.DataFrame:
    """groupBy(table, dt).applyInPandas: one partition of the real lake per task."""
    table, dt = str(pdf["table"].iat[0]), str(pdf["dt"].iat[0])
    rows = merge_partition(open_lake(location, region), table, dt, pdf["data"])
    return pd.DataFrame({"table": [table], "dt": [dt], "rows": [rows]})


def sum_stats(docs: Iterable[bytes]) -> BatchStats:
    total = BatchStats()
    for doc in docs:
        total = total + BatchStats.from_state(json.loads(bytes(doc)))
    return total
