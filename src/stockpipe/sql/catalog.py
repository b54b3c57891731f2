"""The SQL files in `src/stockpipe/sql/athena_queries/`: DDL, views and named queries, with their headers.

A named query file starts with `-- key: value` header lines (name, purpose, params,
pruning). `params` lists the `?` placeholders in order; a name may repeat when the body
needs the same value twice, and the distinct names are what a caller supplies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from stockpipe.errors import ConfigError, QueryError
from stockpipe.sql.base import PARAM_TYPES, Param, validate_param

# The SQL ships inside the package, so an installed wheel runs it from anywhere.
QUERIES_ROOT = Path(str(resources.files("stockpipe.sql").joinpath("athena_queries")))

_HEADER_RE = re.compile(r"^--\s*([a-z_]+)\s*:\s*(.*?)\s*$")
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_PARAM_RE = re.compile(r"^([a-z][a-z0-9_]*)\s+([a-z]+)(?:\s*=\s*'((?:[^']|'')*)')?$")


@dataclass(frozen=True)
class NamedQuery:
    name: str
    purpose: str
    #: One entry per `?` placeholder, in order (a parameter may appear more than once).
    placeholders: tuple[Param, ...]
    pruning: str
    sql: str
    path: Path

    @property
    def params(self) -> tuple[Param, ...]:
        """The distinct parameters a caller supplies, in first-use order."""
        seen: dict[str, Param] = {}
        for p in self.placeholders:
            seen.setdefault(p.name, p)
        return tuple(seen.values())

    def bind(self, values: dict[str, str] | None) -> list[object]:
        """Typed values for each placeholder, from caller strings keyed by name."""
        values = dict(values or {})
        known = {p.name for p in self.params}
        unknown = sorted(set(values) - known)
        if unknown:
            raise QueryError(
                f"query {self.name!r} has no parameter {unknown[0]!r}; "
                f"its parameters are: {', '.join(sorted(known)) or '(none)'}"
            )
        out = []
        for p in self.placeholders:
            if p.name in values:
                raw = values[p.name]
            elif p.default is not None:
                raw = p.default
            else:
                raise QueryError(
                    f"query {self.name!r} needs parameter {p.name!r} ({p.type}); "
                    f"pass --param {p.name}=VALUE"
                )
            out.append(validate_param(self.name, p, raw))
        return out


def parse_header(text: str) -> dict[str, str]:
    """The leading `-- key: value` lines of a SQL file."""
    header: dict[str, str] = {}
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith("--"):
            break
        m = _HEADER_RE.match(stripped)
        if m:
            header.setdefault(m.group(1), m.group(2))
    return header


def _parse_params(spec: str, path: Path) -> tuple[Param, ...]:
    spec = spec.strip()
    if spec.lower() in ("", "none", "-"):
        return ()
    out: list[Param] = []
    types: dict[str, str] = {}
    for item in spec.split(","):
        m = _PARAM_RE.match(item.strip())
        if not m or m.group(2) not in PARAM_TYPES:
            raise ConfigError(
                f"{path}: bad parameter {item.strip()!r} in '-- params:'; "
                f"write 'name type' with type one of {', '.join(PARAM_TYPES)}"
            )
        name, typ = m.group(1), m.group(2)
        if types.setdefault(name, typ) != typ:
            raise ConfigError(f"{path}: parameter {name!r} is declared with two types")
        default = m.group(3).replace("''", "'") if m.group(3) is not None else None
        out.append(Param(name, typ, default))
    return tuple(out)


def load_named_query(path: Path) -> NamedQuery:
    text = path.read_text()
    header = parse_header(text)
    name = header.get("name", path.stem)
    if name != path.stem or not _NAME_RE.match(name):
        raise ConfigError(
            f"{path}: '-- name: {name}' must equal the file name and be lower_snake_case"
        )
    missing = [k for k in ("purpose", "params", "pruning") if k not in header]
    if missing:
        raise ConfigError(f"{path}: header lacks '-- {missing[0]}:' (see queries/README.md)")
    placeholders = _parse_params(header["params"], path)
    return NamedQuery(
        name=name,
        purpose=header["purpose"],
        placeholders=placeholders,
        pruning=header["pruning"],
        sql=text,
        path=path,
    )


def _sql_files(sub: str, root: Path | None) -> list[Path]:
    folder = (root or QUERIES_ROOT) / sub
    if not folder.is_dir():
        raise ConfigError(
            f"SQL folder {folder} not found; the stockpipe installation is incomplete "
            "(reinstall it: the SQL ships inside the package)"
        )
    return sorted(folder.glob("*.sql"))


def list_named_queries(root: Path | None = None) -> list[NamedQuery]:
    return [load_named_query(p) for p in _sql_files("queries", root)]


def get_named_query(name: str, root: Path | None = None) -> NamedQuery:
    if not _NAME_RE.match(name or ""):
        raise QueryError(f"bad query name {name!r}: use lower_snake_case letters and digits")
    path = (root or QUERIES_ROOT) / "queries" / f"{name}.sql"
    if not path.is_file():
        names = ", ".join(q.name for q in list_named_queries(root))
        raise QueryError(f"no named query {name!r}; available: {names}")
    return load_named_query(path)


def view_files(root: Path | None = None) -> list[Path]:
    """views/*.sql in dependency order: a file may start with `-- depends: a, b`."""
    files = {p.stem: p for p in _sql_files("views", root)}
    deps = {
        name: [d.strip() for d in parse_header(p.read_text()).get("depends", "").split(",") if d]
        for name, p in files.items()
    }
    ordered: list[str] = []

    def visit(name: str, trail: tuple[str, ...]) -> None:
        if name in ordered:
            return
        if name in trail:
            raise ConfigError(f"views depend on each other in a cycle: {' -> '.join(trail)}")
        for dep in deps.get(name, []):
            if dep in files:
                visit(dep, (*trail, name))
        ordered.append(name)

    for name in sorted(files):
        visit(name, ())
    return [files[n] for n in ordered]


def ddl_files(root: Path | None = None) -> list[Path]:
    return _sql_files("ddl", root)


def all_sql_files(root: Path | None = None) -> list[Path]:
    return ddl_files(root) + view_files(root) + [q.path for q in list_named_queries(root)]
