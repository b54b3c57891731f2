"""The benchmark harness: sizes as flags, scenarios in child processes, dated reports.

Every scenario module in `bench/scenarios/` declares ID, TITLE, SIZES (full and quick
defaults) and `run(**sizes) -> dict`, and may declare `unavailable() -> str | None`.
`run.py` runs them all; each module also runs alone through `scenario_main`.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import math
import multiprocessing as mp
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
# Fixtures and scratch folders; tests point it at a temporary folder.
CACHE_DIR = Path(os.environ.get("STOCKPIPE_BENCH_CACHE") or BENCH_DIR / ".cache")
RESULTS_DIR = BENCH_DIR / "results"
GIB = 1024**3
MIB = 1024**2


@dataclass(frozen=True)
class Size:
    full: Any  # the size: what `make bench` uses
    quick: Any  # what `--quick` (and `make test`) uses: seconds, not minutes
    help: str


# -- measuring ---------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        return math.nan
    mid = n // 2
    return ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default), q in [0, 100]; inf stays inf."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    pos = (len(ordered) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    if lo == hi or ordered[hi] == ordered[lo]:
        return ordered[lo]
    if math.isinf(ordered[hi]):
        return ordered[hi]
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


def repeat(fn: Callable[[], Any], repeats: int, budget_s: float) -> list[float]:
    """Time `fn` up to `repeats` times; stop early once `budget_s` is spent (at least one
    run always happens). Returns the durations; callers report how many ran."""
    durations: list[float] = []
    spent = 0.0
    for _ in range(max(1, repeats)):
        seconds, _value = timed(fn)
        durations.append(seconds)
        spent += seconds
        if spent >= budget_s:
            break
    return durations


def peak_rss_bytes() -> int:
    """This process's peak RSS (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def children_peak_rss_bytes() -> int:
    """The largest peak RSS of any waited-for child process (not the sum)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024


def target(
    name: str, value: float, op: str, limit: float, unit: str, why_missed: str = ""
) -> dict[str, Any]:
    """One target row: met or missed, with the figure, and the reason when missed."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        met = False
    elif op == ">=":
        met = value >= limit
    elif op == "<=":
        met = value <= limit
    else:
        raise ValueError(f"target operator {op!r}: use '>=' or '<='")
    return {
        "name": name,
        "value": value,
        "op": op,
        "limit": limit,
        "unit": unit,
        "met": bool(met),
        "reason": "" if met else (why_missed or "below target"),
    }


def not_measured(name: str, op: str, limit: float, unit: str, why: str) -> dict[str, Any]:
    """A target that could not be measured in this run: reported as missed, with why."""
    return {
        "name": name,
        "value": None,
        "op": op,
        "limit": limit,
        "unit": unit,
        "met": False,
        "reason": why,
    }


# -- places ------------------------------------------------------------------------


def cache_path(*parts: str) -> Path:
    """A fixture folder under bench/.cache/ (gitignored), keyed by the caller's size key."""
    path = CACHE_DIR.joinpath(*parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def scratch_dir(prefix: str) -> Path:
    """A fresh folder for one run's stream and lake; on the same disk as the cache."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"scratch-{prefix}-", dir=CACHE_DIR))


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def link_copy(src: Path, dst: Path) -> None:
    """Copy a folder tree as hard links: the engine replaces files by rename, never in
    place, so a cached fixture stays untouched while a run changes its copy."""
    for dirpath, _dirnames, filenames in os.walk(src):
        rel = Path(dirpath).relative_to(src)
        (dst / rel).mkdir(parents=True, exist_ok=True)
        for name in filenames:
            os.link(Path(dirpath) / name, dst / rel / name)


# -- machine -----------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _mem_total() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _git_commit() -> str | None:
    git = shutil.which("git")
    if git is None:
        return None
    try:
        out = subprocess.run(  # fixed argv, no shell, no user input
            [git, "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def machine_info() -> dict[str, Any]:
    mem = _mem_total()
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_bytes": mem,
        "memory_gib": round(mem / GIB, 1) if mem else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "git_commit": _git_commit(),
        "load_average": list(os.getloadavg()),
    }


# -- running a scenario in a child process -----------------------------------------


def _child(module: str, sizes: dict[str, Any], queue: Any) -> None:
    # A process group of its own: a scenario over its time budget is stopped with every
    # process it started (stage processes, Spark's JVM, the browser).
    os.setpgrp()
    try:
        mod = importlib.import_module(module)
        started = time.perf_counter()
        result = mod.run(**sizes)
        result["seconds"] = round(time.perf_counter() - started, 2)
        result["status"] = result.get("status", "ok")
    except Exception as exc:  # noqa: BLE001 - a broken scenario is reported, not fatal
        result = {
            "status": "error",
            "reason": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc(limit=8),
        }
    result["process_peak_rss_bytes"] = max(peak_rss_bytes(), children_peak_rss_bytes())
    queue.put(json.dumps(result, default=_json_default))


def _json_default(value: Any) -> Any:
    if isinstance(value, float | int):
        return value
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__} in a bench result")


def run_scenario(
    module: str, sizes: dict[str, Any], timeout_s: float | None = None
) -> dict[str, Any]:
    """Import `module` in a spawned child (fresh interpreter: no warm caches, own peak RSS)
    and run it with `sizes`; the result dict always has a status. A child still running
    after `timeout_s` is killed with its process group: status "timeout"."""
    mod = importlib.import_module(module)
    base = {"id": mod.ID, "title": mod.TITLE, "sizes": dict(sizes)}
    unavailable = getattr(mod, "unavailable", None)
    reason = unavailable() if unavailable else None
    if reason:
        return {**base, "status": "skipped", "reason": reason, "targets": []}
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(module, dict(sizes), queue), name=f"bench-{mod.ID}")
    proc.start()
    try:
        payload = _result_of(proc, queue, timeout_s)
    except BaseException:  # Ctrl-C: the child leads its own process group, stop it too
        _kill_group(proc.pid)
        raise
    if payload == TIMED_OUT:
        for folder in CACHE_DIR.glob(f"scratch-{mod.ID}-*"):
            remove(folder)
        return {
            **base,
            "status": "timeout",
            "reason": f"stopped after its time budget of {timeout_s:.0f} s",
            "targets": [],
        }
    if payload is None:
        return {
            **base,
            "status": "error",
            "reason": f"the scenario process died with exit code {proc.exitcode}",
            "targets": [],
        }
    result = json.loads(payload)
    result.setdefault("targets", [])
    return {**base, **result}


TIMED_OUT = "timed out"


def _result_of(proc: Any, queue: Any, timeout_s: float | None) -> str | None:
    """The child's JSON result; None when it died without one; TIMED_OUT when it ran past
    `timeout_s` (it is killed with its process group)."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while True:
        try:
            return str(queue.get(timeout=1.0))
        except Exception:  # noqa: BLE001 - queue.Empty: check the child is still alive
            if not proc.is_alive():
                break
            if deadline is not None and time.monotonic() > deadline:
                _kill_group(proc.pid)
                proc.join()
                return TIMED_OUT
    proc.join()
    # The child may have put its result just before it exited.
    try:
        return str(queue.get(timeout=5.0))
    except Exception:  # noqa: BLE001 - queue.Empty: it really died without a result
        return None


def _kill_group(pid: int | None) -> None:
    """SIGKILL the process group a scenario child leads (its pid is the group's id)."""
    if pid is None:
        return
    for kill in (os.killpg, os.kill):  # os.kill: a child killed before it made its group
        with contextlib.suppress(ProcessLookupError):
            kill(pid, signal.SIGKILL)


def sizes_for(mod: Any, *, quick: bool, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    sizes = {name: (s.quick if quick else s.full) for name, s in mod.SIZES.items()}
    for name, value in (overrides or {}).items():
        if value is not None:
            sizes[name] = value
    return sizes


def add_size_flags(parser: argparse.ArgumentParser, mod: Any) -> None:
    for name, size in mod.SIZES.items():
        parser.add_argument(
            f"--{name.replace('_', '-')}",
            dest=name,
            type=type(size.full),
            default=None,
            help=f"{size.help} (default {size.full}; --quick: {size.quick})",
        )


def scenario_main(module: str, argv: Sequence[str] | None = None) -> int:
    """Command line of one scenario script: its size flags, --quick, --json."""
    keep_bytecode()
    mod = importlib.import_module(module)
    parser = argparse.ArgumentParser(description=f"stockpipe benchmark: {mod.TITLE}")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: runs in seconds")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    add_size_flags(parser, mod)
    args = parser.parse_args(argv)
    overrides = {n: getattr(args, n) for n in mod.SIZES}
    result = run_scenario(module, sizes_for(mod, quick=args.quick, overrides=overrides))
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        from report import render_scenario

        print(render_scenario(result))
    return 0 if result["status"] != "error" else 1


def keep_bytecode() -> None:
    """Let every process this run starts reuse compiled bytecode, as an installed package
    does: with PYTHONDONTWRITEBYTECODE set (this environment sets it), each `stockpipe`
    process compiled its sources again (~7 s of CPU per start, measured). The cache lives
    where `make unit` keeps it (.venv/pycache), outside the source tree. Called before any
    scenario process starts; the children inherit it."""
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ.setdefault("PYTHONPYCACHEPREFIX", str(REPO / ".venv" / "pycache"))


def ensure_bench_on_path() -> None:
    """Scenario scripts run as files: make `harness`, `report` and `scenarios` importable."""
    if str(BENCH_DIR) not in sys.path:
        sys.path.insert(0, str(BENCH_DIR))


def utc_stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H%M%SZ")
