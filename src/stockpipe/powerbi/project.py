"""Assemble, write and check the whole `power-bi/` folder.

`generate_files()` is pure (same inputs, same bytes); `write_project()` writes only what
changed and removes generated files that are no longer produced; `diff_project()` lists
what a regeneration would change, for `--check` and the no-diff test.
"""

from __future__ import annotations

from pathlib import Path

from stockpipe.errors import ConfigError
from stockpipe.powerbi.base import MODEL_FOLDER, REPORT_FOLDER, GeneratedFile
from stockpipe.powerbi.guide import guide_file
from stockpipe.powerbi.local import local_query_files
from stockpipe.powerbi.model import semantic_model_files
from stockpipe.powerbi.report import pbip_file, report_files
from stockpipe.sql.catalog import QUERIES_ROOT

# Folders the generator owns completely: stale files there are deleted on write.
OWNED_DIRS = (f"{MODEL_FOLDER}/definition", f"{REPORT_FOLDER}/definition", "local")

_GITIGNORE = """\
# Written by Power BI Desktop on this machine only; never commit them.
**/.pbi/localSettings.json
**/.pbi/cache.abf
"""


# The named queries the package ships, wherever the project is written.
DEFAULT_QUERIES_DIR = QUERIES_ROOT / "queries"


def generate_files(queries_dir: Path) -> list[GeneratedFile]:
    """Every file of the project, sorted by path."""
    files = [pbip_file(), GeneratedFile(".gitignore", _GITIGNORE)]
    files += semantic_model_files()
    files += report_files()
    files += local_query_files()
    files.append(guide_file(queries_dir))
    paths = [f.path for f in files]
    if len(paths) != len(set(paths)):
        raise AssertionError(f"duplicate generated paths: {sorted(paths)}")
    return sorted(files, key=lambda f: f.path)


def _owned_existing(out_dir: Path) -> set[str]:
    found: set[str] = set()
    for sub in OWNED_DIRS:
        root = out_dir / sub
        if root.is_dir():
            found |= {p.relative_to(out_dir).as_posix() for p in root.rglob("*") if p.is_file()}
    return found


def diff_project(out_dir: Path, queries_dir: Path | None = None) -> list[str]:
    """Paths (relative to out_dir) that regeneration would create, change or delete."""
    files = generate_files(queries_dir or DEFAULT_QUERIES_DIR)
    changed = []
    for f in files:
        target = out_dir / f.path
        if not target.is_file() or target.read_text(encoding="utf-8") != f.content:
            changed.append(f.path)
    stale = _owned_existing(out_dir) - {f.path for f in files}
    return sorted(changed + [f"{p} (stale)" for p in stale])


def write_project(out_dir: Path, queries_dir: Path | None = None) -> list[str]:
    """Write the project under out_dir; return the paths that changed."""
    queries_dir = queries_dir or DEFAULT_QUERIES_DIR
    if not queries_dir.is_dir():
        raise ConfigError(
            f"named-query folder {queries_dir} does not exist; run from the repository root "
            "or pass --queries pointing at a folder of named queries"
        )
    files = generate_files(queries_dir)
    changed: list[str] = []
    for f in files:
        target = out_dir / f.path
        if target.is_file() and target.read_text(encoding="utf-8") == f.content:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        # newline="" keeps LF endings on every platform, so the no-diff check holds.
        with open(target, "w", encoding="utf-8", newline="") as handle:
            handle.write(f.content)
        changed.append(f.path)
    for stale in sorted(_owned_existing(out_dir) - {f.path for f in files}):
        (out_dir / stale).unlink()
        changed.append(f"{stale} (deleted)")
    return changed
