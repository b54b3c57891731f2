"""Scenario 8, websocket: a local Finnhub-protocol feed replays trades at a high rate
(`symbols` symbols, `rate` trades/s, frames of up to 500 trades as Finnhub batches them)
through the real source (`WebsocketSource`: websocket -> parse -> exact aggregator) into
the embedded stream; the process stage follows the stream and a reader polls the lake
with `stockpipe.sql.run_query`.

The feed's event clock runs `speed` times faster than the wall clock (60 = a simulated
minute per second), so a short run closes many minutes. Measured:
- trades/s the source sustained (trades received / time from the first to the last);
- bar latency: from the wall time the feed's clock passed a minute's end to the poll that
  first saw the bar in DuckDB (p50/p99). The allowed lateness (2 s of event time) is
  1/speed of that in wall time here; at real speed it adds its full 2 s.

    python bench/scenarios/websocket.py --symbols 500 --rate 50000 --seconds 30
"""

from __future__ import annotations

import asyncio
import json
import math
import multiprocessing as mp
import random
import sys
import threading
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import harness
from harness import Size

ID = "websocket"
TITLE = "Websocket trades -> bars (live)"
SIZES = {
    "symbols": Size(500, 20, "symbols in the feed"),
    "rate": Size(50000, 2000, "trades per second the feed offers"),
    "seconds": Size(30, 3, "how long the feed sends"),
    "speed": Size(60.0, 60.0, "event-clock speed: simulated seconds per wall second"),
    "drain_s": Size(30.0, 15.0, "how long to wait for the last bars after the feed stops"),
}
TOKEN = "bench-token"
FRAME_TRADES = 500
LATENESS_S = 2.0
# The feed paces itself at `rate`, so the source can at best match it: the target is to keep
# up (95% allows for the first and last frame's timing), with nothing lost.
TARGET_SHARE = 0.95


# -- the feed ------------------------------------------------------------------------


def feed_main(symbols: int, rate: int, seconds: float, speed: float, info: Any) -> None:
    """A Finnhub-protocol server on 127.0.0.1: waits for one client, then sends trades."""
    from websockets.asyncio.server import serve

    names = [f"SYM{i:03d}" for i in range(symbols)]
    rng = random.Random(7)
    prices = {s: 50.0 + rng.random() * 400 for s in names}

    async def handler(ws: Any) -> None:
        async def drain_subscribes() -> None:
            async for _ in ws:
                pass

        reader = asyncio.get_running_loop().create_task(drain_subscribes())
        await asyncio.sleep(0.5)  # let the subscribes arrive
        start_wall = time.time()
        start_event_ms = int(start_wall * 1000)
        sent = 0
        i = 0
        while True:
            elapsed = time.time() - start_wall
            if elapsed >= seconds:
                break
            due = int(elapsed * rate) - sent
            if due <= 0:
                await asyncio.sleep(0.002)
                continue
            n = min(due, FRAME_TRADES)
            event_ms = start_event_ms + int(elapsed * speed * 1000)
            data = []
            for _ in range(n):
                sym = names[i % symbols]
                i += 1
                prices[sym] = round(max(1.0, prices[sym] * (1 + rng.gauss(0, 0.0005))), 2)
                data.append({"s": sym, "p": prices[sym], "t": event_ms, "v": rng.randint(1, 300),
                             "c": ["1"]})  # fmt: skip
            await ws.send(json.dumps({"type": "trade", "data": data}))
            sent += n
        info.put(
            {
                "sent": sent,
                "start_wall": start_wall,
                "start_event_ms": start_event_ms,
                "last_event_ms": start_event_ms + int(seconds * speed * 1000),
            }  # fmt: skip
        )
        await ws.wait_closed()
        reader.cancel()

    async def main() -> None:
        async with serve(handler, "127.0.0.1", 0, ping_interval=None, max_size=2**24) as server:
            info.put({"port": server.sockets[0].getsockname()[1]})
            await asyncio.sleep(seconds + 120)

    asyncio.run(main())


# -- the source and the process stage --------------------------------------------------


def source_main(port: int, symbols: int, work: str, stop: Any, results: Any) -> None:
    import workloads

    from stockpipe.pipeline import stages
    from stockpipe.sources.websocket.finnhub import FinnhubFeed
    from stockpipe.sources.websocket.source import WebsocketSource

    stream = workloads.open_stream(Path(work) / "stream.db")
    feed = FinnhubFeed(TOKEN, f"ws://127.0.0.1:{port}/")
    source = WebsocketSource(
        feed, workloads.symbols(symbols), Path(work) / "state", lateness_s=LATENESS_S,
        heartbeat_s=0.05, stall_s=30.0,
    )  # fmt: skip
    halt = threading.Event()
    first: list[float] = []
    counts = {"trades": 0}

    def watch() -> None:
        while not halt.is_set():
            n = source.stats.extra["trades"]
            if n and not first:
                first.append(time.time())
            if n != counts["trades"]:
                counts["trades"], counts["at"] = n, time.time()
            if stop.is_set():
                halt.set()
            time.sleep(0.01)

    threading.Thread(target=watch, daemon=True).start()
    try:
        stages.run_ingest(source, stream, halt)
    finally:
        stream.close()
    results.put(
        {
            "trades": counts["trades"],
            "first": first[0] if first else None,
            "last": counts.get("at"),
            "bars": source.stats.bars,
            "rejected": source.stats.extra["rejected"],
        }  # fmt: skip
    )


def process_main(work: str, stop: Any) -> None:
    import workloads

    from stockpipe.lake.local import LocalLake
    from stockpipe.pipeline import stages

    stream = workloads.open_stream(Path(work) / "stream.db")
    halt = threading.Event()
    threading.Thread(target=lambda: (stop.wait(), halt.set()), daemon=True).start()
    try:
        stages.run_process(stream, LocalLake(Path(work) / "lake"), follow=True, stop=halt)
    finally:
        stream.close()


def run(symbols: int, rate: int, seconds: int, speed: float, drain_s: float) -> dict[str, Any]:
    import workloads

    from stockpipe.config import load_settings
    from stockpipe.sql import run_query

    work = harness.scratch_dir(ID)
    workloads.open_stream(work / "stream.db").close()
    (work / "lake" / "processed-data").mkdir(parents=True)
    settings = load_settings({"lake": str(work / "lake"), "sql": "duckdb"}).settings
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    info, results = ctx.Queue(), ctx.Queue()
    feed = ctx.Process(target=feed_main, args=(symbols, rate, seconds, speed, info))
    proc = ctx.Process(target=process_main, args=(str(work), stop))
    seen: dict[int, list[tuple[float, int]]] = {}  # minute (epoch s) -> [(seen at, new bars)]
    counts: dict[int, int] = {}
    sent: dict[str, Any] | None = None
    stats: dict[str, Any] = {}
    try:
        proc.start()
        _warm_up(work, settings, run_query)
        feed.start()
        port = info.get(timeout=60)["port"]
        src = ctx.Process(target=source_main, args=(port, symbols, str(work), stop, results))
        src.start()
        deadline = None
        while True:
            rows = run_query(
                "SELECT ts, count(*) FROM bars WHERE \"interval\" = '1min' "
                "AND symbol <> 'WARMUP' GROUP BY ts",
                settings=settings,
            ).rows
            now = time.time()
            for ts, n in rows:
                key = int(ts.timestamp())
                if n > counts.get(key, 0):
                    seen.setdefault(key, []).append((now, n - counts.get(key, 0)))
                    counts[key] = n
            if sent is None and not info.empty():
                sent = info.get()
                deadline = time.monotonic() + drain_s
            if sent is not None:
                closed = _closed_minutes(sent)
                if all(counts.get(m, 0) >= symbols for m in closed) or time.monotonic() > (
                    deadline or 0
                ):
                    break
            time.sleep(0.05)
    finally:
        stop.set()
        if "src" in locals():
            src.join(60)
            stats = results.get(timeout=30) if src.exitcode == 0 else {}
        proc.join(60)
        feed.terminate()
        feed.join(10)
        arrivals = _stream_arrivals(work)
        harness.remove(work)
    return _report(symbols, rate, seconds, speed, sent or {}, stats, seen, arrivals)


def _stream_arrivals(work: Path) -> dict[int, list[float]]:
    """minute (epoch s) -> wall times the stream accepted its bars (first version each)."""
    import workloads

    from stockpipe.records import parse_ts

    stream = workloads.open_stream(work / "stream.db")
    out: dict[int, list[float]] = {}
    first: set[tuple[str, str]] = set()
    try:
        for shard in stream.list_shards():
            it: str | None = stream.get_shard_iterator(shard.shard_id, "TRIM_HORIZON")
            while it:
                res = stream.get_records(it)
                for rec in res.records:
                    doc = json.loads(rec.data)
                    key = (doc.get("symbol"), doc.get("ts"))
                    if "rejected" in doc or key in first:
                        continue
                    first.add(key)
                    minute = int(parse_ts(doc["ts"]).timestamp())
                    out.setdefault(minute, []).append(rec.arrival_ts.timestamp())
                it = res.next_iterator if res.records else None
    finally:
        stream.close()
    return out


def _warm_up(work: Path, settings: Any, run_query: Any) -> None:
    """One bar through the process stage before timing: its first batch loads and compiles
    the indicator kernel, a one-off cost the freshness of a running pipeline never pays."""
    import workloads

    doc = {"schema_version": 1, "symbol": "WARMUP", "interval": "1min",
           "ts": "2026-01-05T14:30:00Z", "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0,
           "volume": 1, "source": "bench"}  # fmt: skip
    stream = workloads.open_stream(work / "stream.db")
    try:
        stream.put_records([("WARMUP", json.dumps(doc).encode())])
    finally:
        stream.close()
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        query = "SELECT count(*) FROM bars WHERE symbol = 'WARMUP'"
        rows = run_query(query, settings=settings).rows
        if rows and rows[0][0]:
            return
        time.sleep(0.1)
    raise RuntimeError("the process stage did not process the warm-up bar in 180 s")


def _closed_minutes(sent: dict[str, Any]) -> list[int]:
    """Minutes whose end the feed's clock passed by more than the lateness while sending."""
    first = sent["start_event_ms"] // 60000 * 60
    last_ok = (sent["last_event_ms"] / 1000) - LATENESS_S
    return [m for m in range(first, int(last_ok), 60) if m + 60 <= last_ok]


def _report(symbols: int, rate: int, seconds: int, speed: float, sent: dict[str, Any],
            stats: dict[str, Any], seen: dict[int, list[tuple[float, int]]],
            arrivals: dict[int, list[float]]) -> dict[str, Any]:  # fmt: skip
    latencies: list[float] = []
    in_stream: list[float] = []
    closed = _closed_minutes(sent) if sent else []
    for minute in closed:
        end_wall = sent["start_wall"] + (minute + 60 - sent["start_event_ms"] / 1000) / speed
        in_stream += [t - end_wall for t in arrivals.get(minute, [])]
        got = 0
        for seen_at, k in seen.get(minute, []):
            latencies += [seen_at - end_wall] * k
            got += k
        latencies += [math.inf] * max(0, symbols - got)
    p50, p99 = (harness.percentile(latencies, q) for q in (50, 99))
    unseen = sum(1 for x in latencies if math.isinf(x))
    span = (stats.get("last") or 0) - (stats.get("first") or 0)
    tps = stats.get("trades", 0) / span if span > 0 else math.nan
    lost = sent.get("sent", 0) - stats.get("trades", 0)
    rows = [
        {"measure": "trades sent by the feed", "value": sent.get("sent")},
        {"measure": "trades received by the source", "value": stats.get("trades")},
        {"measure": "trades/s sustained", "value": round(tps)},
        {"measure": "bars sent to the stream", "value": stats.get("bars")},
        {"measure": "closed minutes x symbols", "value": len(latencies)},
        {
            "measure": "p50 bar latency s (minute end -> in the stream)",
            "value": round(harness.percentile(in_stream, 50), 3),
        },  # fmt: skip
        {
            "measure": "p99 bar latency s (minute end -> in the stream)",
            "value": round(harness.percentile(in_stream, 99), 3),
        },  # fmt: skip
        {"measure": "p50 bar latency s (minute end -> queryable)", "value": round(p50, 3)},
        {"measure": "p99 bar latency s (minute end -> queryable)", "value": round(p99, 3)},
        {"measure": "bars not queryable at the end", "value": unseen},
    ]
    rows.append({"measure": "trades lost (sent - received)", "value": lost})
    why = f"the source received {stats.get('trades')} of {sent.get('sent')} trades in {span:.1f} s"
    return {
        "metrics": {"trades_per_second": tps, "p50_s": p50, "p99_s": p99, "lost": lost},
        "targets": [
            harness.target(
                "trades/s through websocket -> aggregator -> stream",
                round(tps) if tps == tps else math.nan,
                ">=",
                TARGET_SHARE * rate,
                "trades/s",
                why,
            )  # fmt: skip
        ],
        "rows": rows,
        "notes": [
            f"{symbols} symbols, {rate} trades/s offered for {seconds} s in frames of up to "
            f"{FRAME_TRADES} trades; event clock x{speed:g}; allowed lateness {LATENESS_S:g} s "
            "of event time",
            "latency counts only minutes the feed's clock closed while sending; it includes the "
            "process stage (one micro-batch) and one reader poll (50 ms pauses)",
            "one warm-up bar goes through the process stage before the feed starts (its first "
            "batch compiles the indicator kernel)",
        ],
    }


if __name__ == "__main__":
    harness.ensure_bench_on_path()
    sys.exit(harness.scenario_main("scenarios.websocket"))
