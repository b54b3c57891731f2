"""Push: each new batch's bars go to open pages as soon as they are queryable.

Server-sent events (`GET /api/stream?<filters>`, `text/event-stream`) rather than a
websocket: the traffic is one way, EventSource reconnects by itself, and Starlette
serves it as a plain streaming response.

Detecting new data must be cheap, because it runs while nothing happens. A `LakeWatcher`
stats a few files every `WATCH_INTERVAL_S` (20 ms; about 0.3 ms of CPU a look on a
year of daily partitions) and never queries:

- the `process` consumer's checkpoint (`_checkpoints/process/checkpoint.json`), which
  the stage replaces only once a batch's output is durable, i.e. queryable;
- the `processed-data/bars/` folder and the files in its newest `dt=` partition folder
  (name and inode; writers' temporary files left out), so writers that keep no consumer
  checkpoint (the PySpark job on a local lake, or a test writing files) are seen too;
- the bars manifests (`processed-data/bars/_manifests/` and the manifests in its newest
  `dt=` folder): a batch's rows become queryable when its manifest is replaced, which
  touches neither the bars folder nor its partition folder (the data file came first);
- the `latest` table's file, which writers replace after the bars (the catalog, and so
  the view's window, come from it). A move of the bars alone is held back until `latest`
  or the checkpoint moves too, for at most `COMMIT_HOLD_S`: a view run between the two
  writes would show nothing new and hold up the one that does.

Only when that marker changes does the hub run the page's view (the same named queries
as `/api/view`), once per distinct filter set, and each connection gets the difference
from what it was last sent (`view_delta`): the bars that are new or changed, as a splice
point and a tail per symbol. A lake that cannot be statted (S3) is watched through the
checkpoint's bytes, at a slower pace, and the views are also recomputed every `refresh`
seconds, like one shared poll, so writers without a checkpoint still show up.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from stockpipe.contract import BARS, MANIFESTS_DIR
from stockpipe.dashboard.base import Filters
from stockpipe.errors import StockpipeError
from stockpipe.lake.base import TMP_PREFIX
from stockpipe.lake.checkpoints import checkpoint_path
from stockpipe.processing.latest import LATEST_FILE

log = logging.getLogger(__name__)

PROCESS_CHECKPOINT = checkpoint_path("process")
WATCH_INTERVAL_S = 0.02  # local lake: a few stat calls, 50 times a second
REMOTE_WATCH_INTERVAL_S = 1.0  # S3: one GET of the checkpoint a second
# How long bars that moved without the `latest` table (or the checkpoint) are held back:
# a writer replaces `latest` after its bars, and the view's window ends at the catalog's
# last bar (read from `latest`), so a view run in between shows nothing new yet and holds
# up the one that would. Writers that keep no `latest` are pushed after this delay.
COMMIT_HOLD_S = 0.5
KEEPALIVE_S = 15.0  # a comment line, so a dead connection is noticed and proxies stay open
RETRY_MS = 2000  # EventSource's reconnect delay after the channel drops

Row = dict[str, Any]
Marker = tuple[Any, ...]


Stat = tuple[int, int, int]


def _stat(path: Path) -> Stat | None:
    try:
        st = path.stat()
    except OSError:
        return None
    # The inode too: an atomic replace within one clock tick may keep size and time.
    return st.st_mtime_ns, st.st_size, st.st_ino


def _visible(folder: Path, *, stat: bool = False) -> tuple[tuple[str, Any], ...]:
    """The files of `folder` a reader may see, by name and inode (`stat`: and their whole
    stat). A writer's temporary file is left out: it is created, written and synced before
    its rename, and a marker that moved on it made the hub compute a view without the new
    data, which then held up the view with it."""
    try:
        with os.scandir(folder) as it:
            entries = [e for e in it if not e.name.startswith((TMP_PREFIX, "."))]
    except OSError:
        return ()
    if stat:
        return tuple(sorted((e.name, _stat(Path(e.path))) for e in entries))
    return tuple(sorted((e.name, e.inode()) for e in entries))


def _newest_dt(folder: Path, *, stat: bool = False) -> tuple[str, tuple[tuple[str, Any], ...]]:
    """The newest `dt=` folder in `folder` and its visible files ("" and () when none)."""
    try:
        names = [e.name for e in os.scandir(folder) if e.name.startswith("dt=")]
    except OSError:
        names = []
    if not names:
        return "", ()
    name = max(names)
    return name, _visible(folder / name, stat=stat)


def _manifests_marker(bars: Path) -> Marker:
    """The bars manifests: their folder, its newest dt folder and each manifest in it
    (replaced in place, so stat-ed: an inode may be reused)."""
    folder = bars / MANIFESTS_DIR
    return (_stat(folder), *_newest_dt(folder, stat=True))


def local_marker(root: Path) -> Marker:
    """What changes when a local lake gets new bars: checkpoint, bars folder, bars
    manifests and latest table times."""
    bars = root / BARS.prefix
    return (
        _stat(root / PROCESS_CHECKPOINT),
        _stat(bars),
        _newest_dt(bars),
        _manifests_marker(bars),
        _stat(root / LATEST_FILE),
    )


class LakeWatcher:
    """A marker of the lake's processed state; `changed()` compares it with the last one."""

    def __init__(self, lake: Any) -> None:
        from stockpipe.lake.local import LocalLake

        self.local = isinstance(lake, LocalLake)
        self.interval = WATCH_INTERVAL_S if self.local else REMOTE_WATCH_INTERVAL_S
        self._marker_fn: Callable[[], Marker]
        if self.local:
            root = Path(lake.root)
            self._marker_fn = lambda: local_marker(root)
        else:
            self._marker_fn = lambda: _remote_marker(lake)
        self._last: Marker | None = None
        #: Whether the last move included the checkpoint or the `latest` file, the last
        #: things a writer replaces (a remote marker is the checkpoint alone).
        self.committed = False

    def marker(self) -> Marker:
        return self._marker_fn()

    def changed(self) -> bool:
        """Whether the marker moved since the previous call (the first call says no)."""
        now = self.marker()
        moved = self._last is not None and now != self._last
        if moved and self.local and self._last is not None:
            self.committed = (now[0], now[-1]) != (self._last[0], self._last[-1])
        else:
            self.committed = moved
        self._last = now
        return moved


def _remote_marker(lake: Any) -> Marker:
    try:
        data = lake.read_bytes(PROCESS_CHECKPOINT)
    except FileNotFoundError:
        return (None,)
    except Exception as exc:  # noqa: BLE001 - an unreachable lake is "no change" here
        log.debug("push: cannot read the checkpoint: %s", exc)
        return (None,)
    return (hashlib.sha256(data).hexdigest(),)


def _prefix_len(old: Row, new: Row) -> int:
    """How many leading bars `old` and `new` share, every column equal."""
    n_old, n_new = len(old.get("ts", [])), len(new["ts"])
    keys = list(new)
    # The common case, bars appended: the old columns are a prefix of the new ones.
    if (
        n_old <= n_new
        and all(len(old.get(k, [])) == n_old for k in keys)
        and all(new[k][:n_old] == old[k] for k in keys)
    ):
        return n_old
    for i in range(min(n_old, n_new)):
        if any(old.get(k, [None] * n_old)[i] != new[k][i] for k in keys):
            return i
    return min(n_old, n_new)


def _meta(view: Row) -> Row:
    return {k: v for k, v in view.items() if k not in ("series", "generated_at")}


def view_delta(old: Row, new: Row) -> Row | None:
    """What a page holding `old` needs to hold `new`, or None when nothing changed.

    Per symbol: `keep` (how many of its bars stay) and the columns of the bars after
    them. `unchanged` lists symbols kept as they are; symbols in neither are dropped.
    Everything else of the view (KPIs, buckets, catalog, window) comes whole: it is small.
    """
    series: dict[str, Row] = {}
    unchanged: list[str] = []
    for symbol, cols in new["series"].items():
        prev = old["series"].get(symbol)
        keep = 0 if prev is None else _prefix_len(prev, cols)
        if prev is not None and keep == len(cols["ts"]) == len(prev["ts"]):
            unchanged.append(symbol)
            continue
        series[symbol] = {"keep": keep, **{k: v[keep:] for k, v in cols.items()}}
    dropped = set(old["series"]) - set(new["series"])
    if not series and not dropped and _meta(old) == _meta(new):
        return None
    view = {k: v for k, v in new.items() if k != "series"}
    return {"view": view, "series": series, "unchanged": unchanged}


def sse(event: str, data: Row, event_id: int | None = None) -> str:
    """One server-sent event; JSON has no raw newlines, so one `data:` line suffices."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


class PushHub:
    """The watcher, the views computed per change, and the open streams."""

    def __init__(
        self,
        lake: Callable[[], Any],
        view: Callable[[Filters], Row],
        refresh: float,
    ) -> None:
        self._lake = lake
        self._view = view
        self._refresh = refresh
        self._watcher: LakeWatcher | None = None
        self.generation = 0
        self._bumped_at = time.monotonic()
        self._checked_at = 0.0
        self._check_lock: asyncio.Lock | None = None
        self._held_since: float | None = None  # bars moved, their `latest` not yet
        # (filters, generation) -> the view being or already computed; the newest only.
        self._views: dict[Filters, tuple[int, asyncio.Future[Row]]] = {}
        self.streams = 0
        self._open: dict[Filters, int] = {}  # open streams per filter set
        self.closed = False

    def close(self) -> None:
        """End every open stream (the server is stopping)."""
        self.closed = True

    async def _check(self, *, force: bool = False) -> None:
        if self._check_lock is None:
            self._check_lock = asyncio.Lock()
        async with self._check_lock:
            if self._watcher is None:
                self._watcher = await asyncio.to_thread(LakeWatcher, self._lake())
                await asyncio.to_thread(self._watcher.changed)  # the first marker
            now = time.monotonic()
            if not force and now - self._checked_at < self._watcher.interval:
                return
            self._checked_at = now
            moved = await asyncio.to_thread(self._watcher.changed)
            if moved and not self._watcher.committed and self._held_since is None:
                self._held_since = now
            held = self._held_since is not None and now - self._held_since < COMMIT_HOLD_S
            # Remote lakes: also once per refresh period, for writers without a checkpoint.
            quiet = not self._watcher.local and now - self._bumped_at >= self._refresh
            late = self._held_since is not None and not held
            if (moved and self._watcher.committed) or late or quiet:
                self.generation += 1
                self._bumped_at = now
                self._held_since = None

    async def wait(self, seen: int, timeout: float) -> bool:
        """Until the generation passes `seen` (True), the timeout or close (False)."""
        deadline = time.monotonic() + timeout
        while not self.closed:
            await self._check()
            if self.generation != seen:
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(self._watcher.interval if self._watcher else WATCH_INTERVAL_S)
        return False

    async def view(self, filters: Filters) -> tuple[int, Row]:
        """The view at the current generation, computed once for every stream that asks."""
        gen = self.generation
        entry = self._views.get(filters)
        if entry is None or entry[0] != gen:
            future = asyncio.ensure_future(asyncio.to_thread(self._view, filters))
            entry = (gen, future)
            self._views[filters] = entry
        try:
            row = await asyncio.shield(entry[1])
        except BaseException:
            if self._views.get(filters) is entry:
                del self._views[filters]  # a failed view is asked again next time
            raise
        return gen, row

    async def events(self, filters: Filters) -> AsyncIterator[str]:
        """One page's stream: `retry`, a `view` snapshot, then a `bars` event per change."""
        self.streams += 1
        self._open[filters] = self._open.get(filters, 0) + 1
        try:
            yield f"retry: {RETRY_MS}\n\n"
            # Nobody may have watched while no page was open: look now, so the snapshot
            # is not a view cached before the lake last changed.
            await self._check(force=True)
            seen = self.generation
            base: Row | None = None  # what this page holds: nothing until a `view` event
            fresh = True
            while not self.closed:
                if not fresh and not await self.wait(seen, KEEPALIVE_S):
                    if not self.closed:
                        yield ": keepalive\n\n"
                    continue
                fresh = False
                seen, view, error = await self._safe_view(filters)
                if view is None:
                    yield sse("failure", {"error": error}, seen)
                elif base is None:
                    base = view
                    yield sse("view", view, seen)
                else:
                    delta = view_delta(base, view)
                    if delta is not None:
                        base = view
                        yield sse("bars", delta, seen)
        finally:
            self.streams -= 1
            self._open[filters] -= 1
            if not self._open[filters]:
                # Nobody shows this filter set any more: forget its view.
                del self._open[filters]
                self._views.pop(filters, None)

    async def _safe_view(self, filters: Filters) -> tuple[int, Row | None, str]:
        """(generation, view, "") or (generation, None, the message a page shows)."""
        try:
            gen, view = await self.view(filters)
            return gen, view, ""
        except StockpipeError as exc:
            error = f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # noqa: BLE001 - the page shows a message, the log the rest
            log.exception("push: the view failed")
            error = f"unexpected {type(exc).__name__}; see the server log for details"
        return self.generation, None, error


__all__ = ["LakeWatcher", "PushHub", "local_marker", "sse", "view_delta"]
