"""The dashboard web server: one static page plus JSON endpoints over named queries.

Starlette + uvicorn instead of Streamlit: the page refreshes by fetching JSON and calling
`Plotly.react`, which keeps zoom, filters and scroll position, where Streamlit would
rerun the whole script. Plotly.js is served from the installed `plotly` package, so the
dashboard needs no CDN and no internet.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import plotly
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route

from stockpipe.config import Settings
from stockpipe.dashboard.base import FilterError, parse_filters
from stockpipe.dashboard.health import HealthReader
from stockpipe.dashboard.panels import DashboardData, QueryRunner
from stockpipe.dashboard.push import PushHub
from stockpipe.errors import ConfigError, StockpipeError

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
# Only these names are served: a request path never becomes a file path.
STATIC_FILES = {
    "app.js": (STATIC_DIR / "app.js", "text/javascript"),
    "charts.js": (STATIC_DIR / "charts.js", "text/javascript"),
    "zones.js": (STATIC_DIR / "zones.js", "text/javascript"),
    "style.css": (STATIC_DIR / "style.css", "text/css"),
    "plotly.min.js": (PLOTLY_JS, "text/javascript"),
}
MIN_REFRESH, MAX_REFRESH = 1.0, 3600.0


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def create_app(
    settings: Settings,
    refresh: float = 5.0,
    runner: QueryRunner | None = None,
    lake: Any = None,
) -> Starlette:
    """The ASGI app. `runner` and `lake` replace the query runner and the lake (tests)."""
    if not MIN_REFRESH <= refresh <= MAX_REFRESH:
        raise ConfigError(
            f"--refresh {refresh} is out of range: use {MIN_REFRESH:g} to {MAX_REFRESH:g} seconds"
        )
    data = DashboardData(settings, runner, lake)
    health: HealthReader | None = None
    page = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    page = page.replace("__REFRESH_SECONDS__", f"{refresh:g}")
    # No push on Athena: every view is billed and cached for a minute (throttle.py), so
    # pushing could not be fresher than polling; the page polls instead.
    push = None if data.athena else PushHub(data.lake, data.view, refresh)
    page = page.replace("__PUSH__", "1" if push is not None else "0")

    def guarded(fn: Callable[[Request], Response]) -> Callable[[Request], Response]:
        """Every failure is a JSON message with a status, never a traceback."""

        def endpoint(request: Request) -> Response:
            try:
                return fn(request)
            except FilterError as exc:
                return _error(400, str(exc))
            except StockpipeError as exc:
                return _error(503, f"{type(exc).__name__}: {exc}")
            except Exception as exc:  # noqa: BLE001 - the page shows a message instead
                log.exception("dashboard endpoint failed")
                return _error(
                    500, f"unexpected {type(exc).__name__}; see the server log for details"
                )

        return endpoint

    def index(request: Request) -> Response:
        return HTMLResponse(page, headers={"Cache-Control": "no-store"})

    def static(request: Request) -> Response:
        entry = STATIC_FILES.get(request.path_params["name"])
        if entry is None:
            return _error(404, "not found")
        path, media_type = entry
        return FileResponse(path, media_type=media_type)

    def view(request: Request) -> Response:
        filters = parse_filters(request.query_params)
        return JSONResponse(data.view(filters), headers={"Cache-Control": "no-store"})

    def stream(request: Request) -> Response:
        if push is None:
            return _error(404, "push is off with STOCKPIPE_SQL=athena: the page polls /api/view")
        filters = parse_filters(request.query_params)  # a bad filter is a 400, not a stream
        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        return StreamingResponse(
            push.events(filters), media_type="text/event-stream", headers=headers
        )

    def health_endpoint(request: Request) -> Response:
        nonlocal health
        if health is None:
            health = HealthReader(settings, data.lake())
        report = health.read()
        try:
            catalog = data.catalog().to_json()
        except StockpipeError as exc:
            catalog = []
            report["errors"].append(f"cannot read the last bar: {exc}")
        report["last_bar"] = max((r["last_ts"] for r in catalog), default=None)
        report["lake"] = settings.lake_location
        report["sql"] = settings.sql
        return JSONResponse(report, headers={"Cache-Control": "no-store"})

    def healthz(request: Request) -> Response:
        return JSONResponse({"ok": True})

    routes = [
        Route("/", index),
        Route("/static/{name}", static),
        Route("/api/view", guarded(view)),
        Route("/api/stream", guarded(stream)),
        Route("/api/health", guarded(health_endpoint)),
        Route("/healthz", healthz),
        Route("/favicon.ico", lambda request: Response(status_code=204)),
    ]
    app = Starlette(routes=routes)
    app.state.push = push
    return app


@dataclass
class DashboardHandle:
    """A dashboard running in a background thread."""

    url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self, timeout: float = 10.0) -> None:
        # Open event streams never end by themselves: close them, or shutdown waits.
        app: Any = self.server.config.app
        push = getattr(app.state, "push", None)
        if push is not None:
            push.close()
        self.server.should_exit = True
        self.thread.join(timeout)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"cannot listen on {host}:{port}: {exc.strerror}; choose another --port "
            "(STOCKPIPE_DASHBOARD_PORT) or stop what is using it"
        ) from None
    sock.listen(128)
    return sock


def _url(sock: socket.socket, host: str) -> str:
    port = sock.getsockname()[1]
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104 - display only
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/"


def _server(
    settings: Settings, refresh: float, runner: QueryRunner | None, lake: Any = None
) -> uvicorn.Server:
    app = create_app(settings, refresh, runner, lake)
    # Ctrl-C with pages open: their event streams end within the grace period.
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=3
    )
    return uvicorn.Server(config)


def start_dashboard(
    settings: Settings,
    host: str | None = None,
    port: int | None = None,
    refresh: float = 5.0,
    *,
    runner: QueryRunner | None = None,
    lake: Any = None,
) -> DashboardHandle:
    """Serve the dashboard in a background thread; port 0 picks a free port."""
    host = host or settings.dashboard_host
    port = settings.dashboard_port if port is None else port
    server = _server(settings, refresh, runner, lake)
    sock = _bind(host, port)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="stockpipe-dashboard", daemon=True
    )
    thread.start()
    for _ in range(200):
        if server.started or not thread.is_alive():
            break
        thread.join(0.05)
    if not server.started:
        server.should_exit = True
        sock.close()
        raise StockpipeError(f"the dashboard did not start on {host}:{port}; run with --debug")
    return DashboardHandle(_url(sock, host), server, thread)


def run_dashboard(
    settings: Settings,
    host: str | None = None,
    port: int | None = None,
    refresh: float = 5.0,
    on_ready: Any = None,
) -> None:
    """Serve the dashboard in the foreground until Ctrl-C (`stockpipe dashboard`)."""
    host = host or settings.dashboard_host
    port = settings.dashboard_port if port is None else port
    server = _server(settings, refresh, None)
    sock = _bind(host, port)
    if on_ready is not None:
        on_ready(_url(sock, host))
    server.run(sockets=[sock])


# `stockpipe run` starts the dashboard next to the pipeline, in the background.
serve = start_dashboard
