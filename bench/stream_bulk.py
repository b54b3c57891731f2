"""The embedded stream alone: CPU seconds to write and to read N records (issue 21 item 4).

Writes `--records` bar-sized payloads (100 symbols, 4 shards) in PutRecords calls of 500,
as the ingest stage does, then reads every shard from TRIM_HORIZON with GetRecords of
10,000, as the archive and process stages do. Reports CPU time (user + system of this
process), which a shared machine disturbs far less than wall-clock time.

    .venv/bin/python bench/stream_bulk.py                 # 780k records (~20 CPU-s)
    .venv/bin/python bench/stream_bulk.py --records 50000
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from stockpipe.stream.local import LocalStream

SYMBOLS = [f"SYM{i:03d}" for i in range(100)]
PUT_SIZE = 500
GET_LIMIT = 10_000


def payload(i: int) -> bytes:
    """A bar document of the size the simulator puts (about 200 bytes)."""
    symbol = SYMBOLS[i % len(SYMBOLS)]
    doc = {
        "symbol": symbol,
        "ts": f"2026-01-05T{14 + i // 60 % 7:02d}:{i % 60:02d}:00Z",
        "interval": "1min",
        "open": 100.0 + i % 97,
        "high": 101.5 + i % 97,
        "low": 99.25 + i % 97,
        "close": 100.75 + i % 97,
        "volume": 1000 + i,
        "source": "simulator",
    }
    return json.dumps(doc).encode()


def write(stream: LocalStream, count: int) -> float:
    entries = [(SYMBOLS[i % len(SYMBOLS)], payload(i)) for i in range(count)]
    start = time.process_time()
    for first in range(0, count, PUT_SIZE):
        stream.put_records(entries[first : first + PUT_SIZE])
    return time.process_time() - start


def read(stream: LocalStream) -> tuple[float, int]:
    start = time.process_time()
    total = 0
    for shard in stream.list_shards():
        it = stream.get_shard_iterator(shard.shard_id, "TRIM_HORIZON")
        while True:
            res = stream.get_records(it, limit=GET_LIMIT)
            total += len(res.records)
            if not res.records:
                break
            it = res.next_iterator or it
    return time.process_time() - start, total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=780_000, help="records to write and read")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        stream = LocalStream(Path(tmp) / "stream.db", shard_count=4)
        try:
            write_s = write(stream, args.records)
            read_s, got = read(stream)
        finally:
            stream.close()
    if got != args.records:
        print(f"read {got} records, wrote {args.records}")
        return 1
    print(
        f"stream: {args.records} records; write {write_s:.2f} CPU-s "
        f"({args.records / write_s:,.0f}/s), read {read_s:.2f} CPU-s "
        f"({args.records / read_s:,.0f}/s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
