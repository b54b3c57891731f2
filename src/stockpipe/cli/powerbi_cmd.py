"""`stockpipe powerbi generate`: write (or check) the Power BI project in power-bi/."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from stockpipe.errors import StockpipeError

powerbi_app = typer.Typer(
    help="The Power BI project (PBIP) generated from the data contract.", no_args_is_help=True
)


class ProjectOutOfDate(StockpipeError):
    """The committed power-bi/ folder differs from what the contract generates."""


@powerbi_app.command("generate")
def generate(
    out: Path = typer.Option(
        Path("power-bi"), "--out", help="Project folder to write (no env var)."
    ),
    queries: Path = typer.Option(
        None,
        "--queries",
        help="Named-query folder (default: the queries the package ships; no env var).",
    ),
    check: bool = typer.Option(
        False, "--check", help="Write nothing; exit 1 if regeneration would change files."
    ),
) -> None:
    """Generate StockPipe.pbip, the TMDL model, the PBIR report, local M queries and the guide."""
    from stockpipe.powerbi import diff_project, write_project

    console = Console(soft_wrap=True, highlight=False)  # paths stay on one line
    if check:
        changed = diff_project(out, queries)
        if changed:
            raise ProjectOutOfDate(
                f"{out} is out of date ({len(changed)} files differ, e.g. {changed[0]}); "
                "run `stockpipe powerbi generate` and commit the result"
            )
        console.print(f"{out} is up to date")
        return
    changed = write_project(out, queries)
    for path in changed:
        console.print(f"wrote {out / path}")
    console.print(f"{out}: {len(changed)} files changed")


def register(app: typer.Typer) -> None:
    app.add_typer(powerbi_app, name="powerbi")
