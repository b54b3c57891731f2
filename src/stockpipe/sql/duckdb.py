"""The local engine: DuckDB over the lake, running the same Athena SQL files (transpiled).

Each lake table becomes a DuckDB view that selects exactly the contract's columns (plus
the partition columns), so internal `_`-prefixed columns in the files never show. A table
with no files yet is an empty view with the right columns, not an error.

`bars`, `daily` and `quarantine` read the files their manifests name (`sql/lakefiles.py`:
each query pays one listing; a view is rebuilt only when a manifest changed), so a query
sees all of a batch's rows in a partition or none, and never a file a compaction replaced.
Partitions without a manifest (lakes written before them) read every file, as before.

Two ways to reach the files:
- a local folder: DuckDB's own `read_parquet`/`read_json`. Parquet tables read an explicit
  file list, checked before each query (the manifests, or one scandir per partition), so
  files the pipeline adds, deletes or atomically replaces are picked up; JSON tables use
  a glob;
- any other pyarrow filesystem (S3): Arrow datasets registered in DuckDB, because DuckDB's
  httpfs extension cannot be downloaded here; a manifested table's dataset is kept until
  a manifest changes, the others are re-listed before each query.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from stockpipe.contract import TABLES, Table
from stockpipe.errors import QueryError
from stockpipe.lake.base import TMP_PREFIX, Lake
from stockpipe.sql.base import QueryResult, SqlEngine
from stockpipe.sql.catalog import view_files
from stockpipe.sql.lakefiles import (
    MANIFESTED,
    FileKey,
    TableFiles,
    list_arrow,
    list_local,
    stat_key,
)
from stockpipe.sql.transpile import to_duckdb

# A file can vanish or be replaced between DuckDB's bind and its read; a retry sees the new set.
_IO_RETRIES = 5
# How recent a manifest's change must be for its unchanged stat not to be trusted: a few
# clock ticks on a local disk, more than S3's whole-second times (plus some clock skew).
_RACY_LOCAL_NS = 50_000_000
_RACY_REMOTE_NS = 3_000_000_000
_EXT = {"parquet": "parquet", "json": "jsonl"}


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _select_list(table: Table) -> str:
    cols = [f"CAST({_ident(c.name)} AS {c.duckdb_type}) AS {_ident(c.name)}" for c in table.columns]
    cols += [f"CAST({_ident(p.name)} AS VARCHAR) AS {_ident(p.name)}" for p in table.partitions]
    return ", ".join(cols)


def empty_view_sql(table: Table) -> str:
    cols = [f"CAST(NULL AS {c.duckdb_type}) AS {_ident(c.name)}" for c in table.columns]
    cols += [f"CAST(NULL AS VARCHAR) AS {_ident(p.name)}" for p in table.partitions]
    return f"CREATE OR REPLACE VIEW {_ident(table.name)} AS SELECT {', '.join(cols)} WHERE false"


def _partition_glob(table: Table) -> str:
    dirs = "/".join(f"{p.name}=*" for p in table.partitions)
    return f"{dirs}/*.{_EXT[table.file_format]}"


def list_parquet_files(table: Table, root: str) -> list[FileKey]:
    """The table's visible Parquet files under a local `root`, sorted, with their stat keys.

    Same files as the glob `<prefix>/<k>=*/.../*.parquet`, minus temporary and hidden files
    (`.tmp-*`, `.*`), which readers must never see.
    """
    level = [Path(root) / table.prefix]
    for part in table.partitions:
        nxt: list[Path] = []
        for folder in level:
            try:
                with os.scandir(folder) as it:
                    nxt += [
                        Path(e.path)
                        for e in it
                        if e.name.startswith(f"{part.name}=") and e.is_dir(follow_symlinks=True)
                    ]
            except (FileNotFoundError, NotADirectoryError):
                continue
        level = nxt
    keys: list[FileKey] = []
    for folder in level:
        try:
            with os.scandir(folder) as it:
                for e in it:
                    if not e.name.endswith(".parquet") or e.name.startswith((TMP_PREFIX, ".")):
                        continue
                    try:
                        st = e.stat(follow_symlinks=True)
                    except FileNotFoundError:
                        continue  # deleted since the listing
                    keys.append((e.path, st.st_size, st.st_mtime_ns, st.st_ino))
        except (FileNotFoundError, NotADirectoryError):
            continue
    keys.sort()
    return keys


def _hive_types(table: Table) -> str:
    return ", ".join(f"{_quote(p.name)}: 'VARCHAR'" for p in table.partitions)


def parquet_list_view_sql(table: Table, paths: Sequence[str], *, same_schema: bool) -> str:
    """A view over an explicit list of Parquet files.

    `union_by_name` makes DuckDB open every file's footer when it binds a query, even the
    files partition pruning would skip; it is only needed when the files' schemas differ.
    """
    files = "[" + ", ".join(_quote(p) for p in paths) + "]"
    union = "" if same_schema else "union_by_name = true, "
    hive = (
        f"hive_partitioning = true, hive_types = {{{_hive_types(table)}}}"
        if table.partitions
        else "hive_partitioning = false"
    )
    source = f"read_parquet({files}, {union}{hive})"
    return (
        f"CREATE OR REPLACE VIEW {_ident(table.name)} AS SELECT {_select_list(table)} FROM {source}"
    )


def native_view_sql(table: Table, root: str) -> str:
    """A view reading the table's files under a local `root` with DuckDB's own readers."""
    pattern = _quote(f"{root.rstrip('/')}/{table.prefix}/{_partition_glob(table)}")
    hive_types = _hive_types(table)
    if table.file_format == "parquet":
        source = (
            f"read_parquet({pattern}, hive_partitioning = true, union_by_name = true, "
            f"hive_types = {{{hive_types}}})"
        )
    else:
        columns = ", ".join(f"{_quote(c.name)}: {_quote(c.duckdb_type)}" for c in table.columns)
        source = (
            f"read_json({pattern}, format = 'newline_delimited', columns = {{{columns}}}, "
            f"hive_partitioning = true, hive_types = {{{hive_types}}})"
        )
    return (
        f"CREATE OR REPLACE VIEW {_ident(table.name)} AS SELECT {_select_list(table)} FROM {source}"
    )


def arrow_paths(table: Table, filesystem: pafs.FileSystem, base: str) -> list[str]:
    """Every visible file of the table under `base`, sorted (one recursive listing)."""
    root = f"{base.rstrip('/')}/{table.prefix}"
    try:
        selector = pafs.FileSelector(root, recursive=True, allow_not_found=True)
        infos = filesystem.get_file_info(selector)
    except (FileNotFoundError, OSError):
        return []
    suffix = "." + _EXT[table.file_format]
    return sorted(
        i.path
        for i in infos
        if i.type == pafs.FileType.File
        and i.path.endswith(suffix)
        and not any(seg.startswith((TMP_PREFIX, ".")) for seg in i.path.split("/"))
    )


def arrow_dataset(
    table: Table, filesystem: pafs.FileSystem, base: str, paths: Sequence[str] | None = None
) -> ds.Dataset | None:
    """The table's files (`paths`, else all of them) as an Arrow dataset with the contract
    schema, or None if there are none."""
    paths = arrow_paths(table, filesystem, base) if paths is None else list(paths)
    if not paths:
        return None
    root = f"{base.rstrip('/')}/{table.prefix}"
    part_schema = pa.schema([pa.field(p.name, pa.string()) for p in table.partitions])
    schema = pa.schema(list(table.arrow_schema()) + list(part_schema))
    fmt: ds.FileFormat = (
        ds.ParquetFileFormat() if table.file_format == "parquet" else ds.JsonFileFormat()
    )
    if not table.partitions:
        return ds.dataset(paths, schema=schema, format=fmt, filesystem=filesystem)
    return ds.dataset(
        paths,
        schema=schema,
        format=fmt,
        filesystem=filesystem,
        partitioning=ds.partitioning(part_schema, flavor="hive"),
        partition_base_dir=root,
    )


class DuckDBEngine(SqlEngine):
    """Athena SQL on a laptop: DuckDB views over the lake, views/*.sql on top."""

    name = "duckdb"

    def __init__(self, lake: Lake, *, native: bool | None = None, queries_root: Path | None = None):
        self.lake = lake
        filesystem, base = lake.arrow_filesystem()
        self._fs: pafs.FileSystem = filesystem
        self._base = base
        self.native = isinstance(self._fs, pafs.LocalFileSystem) if native is None else native
        self._con = duckdb.connect(":memory:")
        self._con.execute("SET TimeZone = 'UTC'")
        _lock_down(self._con, self._base if self.native else None)
        self._lock = threading.Lock()
        # Cursors running outside the lock; close() waits until none is left.
        self._idle = threading.Condition(self._lock)
        self._running = 0
        self._closed = False
        self._has_files: dict[str, bool] = {}
        # Per Parquet table: the file keys its view was built from (rebuilt on any change),
        # and each file's schema by key, so an unchanged file's footer is read only once.
        self._view_keys: dict[str, list[FileKey]] = {}
        self._schemas: dict[FileKey, pa.Schema] = {}
        # bars, daily, quarantine: the files their manifests name, kept between queries.
        self._files = {name: self._table_files(TABLES[name]) for name in MANIFESTED}
        self._views = [to_duckdb(p.read_text()) for p in view_files(queries_root)]
        self._views_created = False

    # -- lake tables -------------------------------------------------------------------

    def _table_files(self, table: Table) -> TableFiles:
        if self.native:
            base = self._base
            return TableFiles(
                table,
                lambda manifested: list_local(base, table, manifested),
                lambda path: Path(path).read_bytes(),
                stat_key,
                base,
                racy_ns=_RACY_LOCAL_NS,
                clock=time.time_ns,
            )
        fs = self._fs

        def read(path: str) -> bytes:
            with fs.open_input_stream(path) as fh:
                return bytes(fh.read())

        return TableFiles(
            table,
            lambda manifested: list_arrow(fs, self._base, table, manifested),
            read,
            # An Arrow dataset over a legacy partition is rebuilt before every query anyway.
            lambda path: (path, -1, -1, -1),
            self._base,
            racy_ns=_RACY_REMOTE_NS,
            clock=time.time_ns,
        )

    def _forget_files(self) -> None:
        """List and read everything again before the next query."""
        self._has_files.clear()
        for files in self._files.values():
            files.forget()

    def _native_has_files(self, table: Table) -> bool:
        folder = Path(self._base) / table.prefix
        return next(folder.glob(_partition_glob(table)), None) is not None

    def _file_schema(self, key: FileKey) -> pa.Schema | None:
        schema = self._schemas.get(key)
        if schema is None:
            try:
                schema = pq.read_schema(key[0])
            except (OSError, pa.ArrowException):
                return None  # gone or half-written: DuckDB's own read decides (and retries)
            self._schemas[key] = schema
        return schema

    def _same_schema(self, keys: list[FileKey]) -> bool:
        first = self._file_schema(keys[0])
        if first is None:
            return False
        for key in keys[1:]:
            schema = self._file_schema(key)
            if schema is None or not schema.equals(first):
                return False
        return True

    def _refresh_parquet(self, table: Table) -> None:
        files = self._files.get(table.name)
        keys = files.current() if files else list_parquet_files(table, self._base)
        if table.name in self._has_files and keys == self._view_keys.get(table.name):
            return
        if keys:
            sql = parquet_list_view_sql(
                table, [k[0] for k in keys], same_schema=self._same_schema(keys)
            )
        else:
            sql = empty_view_sql(table)
        self._con.execute(sql)
        # Forget the footers of this table's files that are gone or were replaced.
        folder = f"{Path(self._base) / table.prefix}{os.sep}"
        live = set(keys)
        for key in [k for k in self._schemas if k[0].startswith(folder) and k not in live]:
            del self._schemas[key]
        self._view_keys[table.name] = keys
        self._has_files[table.name] = bool(keys)

    def _refresh_native(self) -> None:
        for table in TABLES.values():
            if table.file_format == "parquet":
                self._refresh_parquet(table)
                continue
            has = self._native_has_files(table)
            if self._has_files.get(table.name) != has:
                sql = native_view_sql(table, self._base) if has else empty_view_sql(table)
                self._con.execute(sql)
                self._has_files[table.name] = has

    def _refresh_arrow(self) -> None:
        for table in TABLES.values():
            files = self._files.get(table.name)
            paths = None
            if files is not None:
                # Only a manifested table's view can be kept: files are never replaced.
                keys = files.current()
                if (
                    table.name in self._has_files
                    and not files.has_legacy
                    and keys == self._view_keys.get(table.name)
                ):
                    continue
                self._view_keys[table.name] = keys
                self._has_files[table.name] = bool(keys)
                paths = [k[0] for k in keys]
            dataset = arrow_dataset(table, self._fs, self._base, paths)
            if dataset is None:
                self._con.execute(empty_view_sql(table))
                continue
            source = f"__lake_{table.name}"
            self._con.register(source, dataset)
            self._con.execute(
                f"CREATE OR REPLACE VIEW {_ident(table.name)} AS "
                f"SELECT {_select_list(table)} FROM {_ident(source)}"
            )

    def refresh(self, *, force: bool = False) -> None:
        """Point the table views at the lake's current files; create views/*.sql once."""
        if force:
            self._forget_files()
        if self.native:
            self._refresh_native()
        else:
            self._refresh_arrow()
        if not self._views_created:
            for sql in self._views:
                self._con.execute(sql)
            self._views_created = True

    # -- queries -----------------------------------------------------------------------

    def execute(
        self, sql: str, params: Sequence[Any] | None = None, *, query: str | None = None
    ) -> QueryResult:
        duck_sql = to_duckdb(sql)
        # The connection refuses a second call at the same time (DuckDB 2 says "busy"
        # rather than waiting), so every call on it takes the lock; queries use cursors.
        with self._lock:
            _check_read_only(self._con, duck_sql, query)
        values = list(params or [])
        for attempt in range(_IO_RETRIES):
            try:
                return self._run(duck_sql, values)
            except duckdb.CatalogException as exc:
                raise QueryError(self._catalog_message(exc), query=query) from None
            except duckdb.Error as exc:
                if not _lake_changed_underneath(exc) or attempt == _IO_RETRIES - 1:
                    raise QueryError(_one_line(str(exc)), query=query) from None
                self._forget_files()
                # Give a writer between its delete and its next write a moment to finish.
                time.sleep(0.005 * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def _run(self, duck_sql: str, values: list[Any]) -> QueryResult:
        if self.native:
            with self._lock:
                self._check_open()
                self.refresh()
                # A cursor per query: concurrent readers share the views, not the state.
                cur = self._con.cursor()
                self._running += 1
            try:
                cur.execute("SET TimeZone = 'UTC'")
                return _collect(cur.execute(duck_sql, values))
            finally:
                cur.close()
                with self._lock:
                    self._running -= 1
                    self._idle.notify_all()
        # Arrow datasets are registered on the connection, so queries take turns.
        with self._lock:
            self._check_open()
            self.refresh()
            return _collect(self._con.execute(duck_sql, values))

    def tables(self) -> list[str]:
        """The tables and views a query can name."""
        with self._lock:
            self.refresh()
            rows = self._con.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'main' AND table_name NOT LIKE '\\_%' ESCAPE '\\' "
                "ORDER BY table_name"
            ).fetchall()
        return [str(r[0]) for r in rows]

    def _catalog_message(self, exc: duckdb.CatalogException) -> str:
        """An unknown table names the ones that exist."""
        match = re.search(r"Table with name (\S+) does not exist", str(exc))
        if match is None:
            return _one_line(str(exc))
        try:
            known = ", ".join(self.tables())
        except duckdb.Error:
            return _one_line(str(exc))
        return f"unknown table {match.group(1)!r}; available tables and views: {known}"

    def _check_open(self) -> None:
        if self._closed:
            raise duckdb.ConnectionException("the SQL engine was closed")

    def close(self) -> None:
        """Close the connection once no query is using it (a server thread may be): no new
        call or cursor starts after this, and the cursors still running finish first
        (DuckDB refuses to close a connection they use, as "busy")."""
        with self._lock:
            self._closed = True
            # Counted, not guessed: closing the connection under a running cursor can
            # cut its query short (an empty result, not an error).
            if not self._idle.wait_for(lambda: self._running == 0, timeout=_CLOSE_WAIT_S):
                raise QueryError(
                    f"SQL engine close: {self._running} queries still running after "
                    f"{_CLOSE_WAIT_S:.0f} s"
                )
            self._con.close()


#: Statement kinds a query may hold: reading, and explaining a read. Everything else (COPY,
#: EXPORT, ATTACH, INSTALL/LOAD, SET, PRAGMA, CREATE, INSERT, ...) changes state or files.
_READ_ONLY = ("SELECT", "EXPLAIN")


_CLOSE_WAIT_S = 30.0  # how long close() waits for running queries


def _lock_down(con: duckdb.DuckDBPyConnection, lake_root: str | None) -> None:
    """No file access beyond the lake, for every query this engine will ever run.

    `allowed_directories` must be set while external access is still on; once it is off,
    neither setting can be changed back by a query. The lake's own views keep reading
    their files (under the allowed root); `read_csv('/etc/passwd')`, `COPY ... TO`, ATTACH
    and extension loading are refused by DuckDB itself. Arrow datasets (S3 lakes) are
    registered objects, not files, and need no allowed directory.
    """
    if lake_root is not None:
        con.execute("SET allowed_directories = [?]", [lake_root.rstrip("/") + "/"])
    con.execute("SET enable_external_access = false")


def _check_read_only(
    con: duckdb.DuckDBPyConnection, duck_sql: str, query: str | None = None
) -> None:
    """Refuse anything but SELECT/EXPLAIN before it runs (COPY into the lake included)."""
    try:
        statements = con.extract_statements(duck_sql)
    except duckdb.Error as exc:
        raise QueryError(_one_line(str(exc)), query=query) from None
    for statement in statements:
        kind = statement.type.name
        if kind not in _READ_ONLY:
            raise QueryError(
                f"{kind} statements are refused: stockpipe runs read-only queries (SELECT, "
                "WITH ... SELECT, EXPLAIN) over the lake's tables and views",
                query=query,
            )


def _lake_changed_underneath(exc: duckdb.Error) -> bool:
    """Errors from a file deleted or atomically replaced while DuckDB was reading it.

    DuckDB reads footers when it binds and data when it runs; a writer replacing the file
    in between shows up as an IO error, an invalid-input error, or a bare "Out of buffer".
    The next attempt sees a consistent set of files.
    """
    return isinstance(exc, duckdb.IOException | duckdb.InvalidInputException) or (
        type(exc) is duckdb.Error
    )


def _collect(cur: duckdb.DuckDBPyConnection) -> QueryResult:
    columns = [d[0] for d in cur.description] if cur.description else []
    rows = [tuple(r) for r in cur.fetchall()] if cur.description else []
    return QueryResult(columns=columns, rows=rows, scanned_bytes=None, cost_usd=None)


def _one_line(message: str) -> str:
    """DuckDB's message plus where its caret points, flattened for a one-line error."""
    lines = [ln.rstrip() for ln in message.splitlines() if ln.strip()]
    text = lines[0] if lines else message
    for i, ln in enumerate(lines):
        if ln.startswith("LINE ") and ":" in ln:
            label, snippet = ln.split(":", 1)
            caret = lines[i + 1] if i + 1 < len(lines) else ""
            col = caret.find("^") - len(label) - 1
            where = f"{label.lower()}, column {col}" if col > 0 else label.lower()
            text += f" (at {where} of the DuckDB translation: {snippet.strip()[:80]})"
            break
    return text
