"""The Athena engine: StartQueryExecution, poll with backoff, paginated GetQueryResults.

Parameters travel as `ExecutionParameters` (Athena substitutes them as typed literals),
never as text pasted into the SQL. Athena returns every value as a string; `convert`
turns them back into Python values from the result set's column types.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from stockpipe.errors import ConfigError, QueryError
from stockpipe.sql.base import QueryResult, SqlEngine, athena_literal, estimate_cost_usd
from stockpipe.sql.catalog import ddl_files, view_files
from stockpipe.sql.ddl import DATABASE_FILE, LAKE_ROOT_PLACEHOLDER

_DONE = ("SUCCEEDED", "FAILED", "CANCELLED")
_INTS = ("tinyint", "smallint", "integer", "int", "bigint")
_FLOATS = ("double", "float", "real")
_DB_RE = re.compile(r"^[a-z0-9_]{1,255}$")


@dataclass(frozen=True)
class Statement:
    label: str
    sql: str
    #: CREATE DATABASE runs before the database exists, so it gets no database context.
    use_database: bool = True


def convert(value: str | None, athena_type: str) -> Any:
    """One cell from Athena's string form to a Python value of its column type."""
    if value is None:
        return None
    t = athena_type.lower()
    if t in _INTS:
        return int(value)
    if t in _FLOATS:
        return float(value)  # also parses NaN, Infinity and -Infinity as Athena writes them
    if t == "boolean":
        return value.lower() == "true"
    if t.startswith("decimal"):
        return Decimal(value)
    if t == "date":
        return date.fromisoformat(value)
    if t.startswith("timestamp"):
        text = value.replace(" UTC", "+00:00").strip()
        parsed = datetime.fromisoformat(text)
        # Athena's timestamp has no zone; every timestamp in our lake is UTC.
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    return value


class AthenaEngine(SqlEngine):
    name = "athena"

    def __init__(
        self,
        client: Any,
        *,
        database: str,
        workgroup: str,
        output_location: str | None,
        poll_initial: float = 0.25,
        poll_max: float = 5.0,
        timeout_s: float = 900.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.database = database
        self.workgroup = workgroup
        self.output_location = output_location
        self.poll_initial = poll_initial
        self.poll_max = poll_max
        self.timeout_s = timeout_s
        self._sleep = sleep

    @classmethod
    def from_settings(cls, settings: Any) -> AthenaEngine:
        import boto3

        if settings.athena_output and not settings.athena_output.startswith("s3://"):
            raise ConfigError(
                f"STOCKPIPE_ATHENA_OUTPUT={settings.athena_output!r} is not an s3:// URI; "
                "set it to e.g. s3://my-bucket/athena-results/"
            )
        # boto3 honours AWS_ENDPOINT_URL(_ATHENA), which is how tests point it at moto.
        client = boto3.session.Session(region_name=settings.aws_region).client("athena")
        return cls(
            client,
            database=settings.athena_database,
            workgroup=settings.athena_workgroup,
            output_location=settings.athena_output,
        )

    def start(
        self,
        sql: str,
        params: Sequence[Any] | None = None,
        *,
        use_database: bool = True,
        query: str | None = None,
    ) -> str:
        request: dict[str, Any] = {"QueryString": sql, "WorkGroup": self.workgroup}
        if use_database:
            request["QueryExecutionContext"] = {"Database": self.database}
        if self.output_location:
            request["ResultConfiguration"] = {"OutputLocation": self.output_location}
        if params:
            request["ExecutionParameters"] = [athena_literal(v) for v in params]
        try:
            return str(self.client.start_query_execution(**request)["QueryExecutionId"])
        except Exception as exc:  # botocore ClientError, EndpointConnectionError, ...
            raise QueryError(f"Athena refused the query: {_aws_message(exc)}", query=query) from exc

    def wait(self, query_id: str, *, query: str | None = None) -> dict[str, Any]:
        """Poll until the query finishes, backing off from poll_initial to poll_max.

        A failure names the execution `query_id` and the named `query`, if any.
        """
        delay = self.poll_initial
        waited = 0.0
        while True:
            execution = self.client.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
            status = execution.get("Status", {})
            state = status.get("State")
            if state == "SUCCEEDED":
                return dict(execution)
            if state in ("FAILED", "CANCELLED"):
                reason = status.get("StateChangeReason") or "no reason given"
                scanned = execution.get("Statistics", {}).get("DataScannedInBytes")
                extra = f"; scanned {scanned} bytes" if scanned else ""
                raise QueryError(
                    f"Athena query {query_id} {state}: {reason}{extra}",
                    query=query,
                    execution_id=query_id,
                )
            if waited >= self.timeout_s:
                self.client.stop_query_execution(QueryExecutionId=query_id)
                raise QueryError(
                    f"Athena query {query_id} still {state} after {self.timeout_s:.0f}s; "
                    "cancelled it. Narrow the dt range or raise the timeout",
                    query=query,
                    execution_id=query_id,
                )
            self._sleep(delay)
            waited += delay
            delay = min(delay * 2, self.poll_max)

    def fetch(self, query_id: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        paginator = self.client.get_paginator("get_query_results")
        columns: list[str] = []
        types: list[str] = []
        rows: list[tuple[Any, ...]] = []
        first = True
        for page in paginator.paginate(QueryExecutionId=query_id):
            result_set = page["ResultSet"]
            if not columns:
                info = result_set.get("ResultSetMetadata", {}).get("ColumnInfo", [])
                columns = [c["Name"] for c in info]
                types = [c.get("Type", "varchar") for c in info]
            page_rows = result_set.get("Rows", [])
            if first and page_rows and _is_header(page_rows[0], columns):
                # The first row of a SELECT's first page repeats the column names.
                page_rows = page_rows[1:]
            first = False
            for row in page_rows:
                cells = [d.get("VarCharValue") for d in row.get("Data", [])]
                rows.append(tuple(convert(v, t) for v, t in zip(cells, types, strict=False)))
        return columns, rows

    def execute(
        self,
        sql: str,
        params: Sequence[Any] | None = None,
        *,
        query: str | None = None,
        use_database: bool = True,
    ) -> QueryResult:
        query_id = self.start(sql, params, use_database=use_database, query=query)
        try:
            execution = self.wait(query_id, query=query)
            columns, rows = self.fetch(query_id)
        except QueryError:
            raise
        except Exception as exc:
            raise QueryError(
                f"Athena query {query_id} failed: {_aws_message(exc)}",
                query=query,
                execution_id=query_id,
            ) from exc
        stats = execution.get("Statistics", {})
        scanned = int(stats.get("DataScannedInBytes", 0) or 0)
        # DDL statements are free; everything else pays at least the 10 MB minimum.
        cost = 0.0 if execution.get("StatementType") == "DDL" else estimate_cost_usd(scanned)
        return QueryResult(columns, rows, scanned_bytes=scanned, cost_usd=cost, engine="athena")


def setup_statements(lake_root: str, database: str, root: Path | None = None) -> list[Statement]:
    """The DDL and views of src/stockpipe/sql/athena_queries/, ready for Athena, in the order to run them."""
    if not lake_root.startswith("s3://"):
        raise ConfigError(
            f"Athena needs an s3:// lake, got {lake_root!r}; set STOCKPIPE_LAKE=s3://bucket/prefix "
            "or S3_BUCKET_NAME"
        )
    if not _DB_RE.match(database):
        raise ConfigError(
            f"STOCKPIPE_ATHENA_DATABASE={database!r} is not a valid Athena database name; "
            "use lower-case letters, digits and _"
        )
    out: list[Statement] = []
    for path in ddl_files(root):
        sql = path.read_text().replace(LAKE_ROOT_PLACEHOLDER, lake_root.rstrip("/"))
        if path.name == DATABASE_FILE:
            sql = sql.replace(
                "CREATE DATABASE IF NOT EXISTS stockpipe",
                f"CREATE DATABASE IF NOT EXISTS {database}",
            )
            out.append(Statement(path.name, _strip(sql), use_database=False))
        else:
            out.append(Statement(path.name, _strip(sql)))
    out += [Statement(p.name, _strip(p.read_text())) for p in view_files(root)]
    return out


def run_setup(engine: AthenaEngine, statements: list[Statement]) -> list[tuple[str, QueryResult]]:
    """Run each statement in order; every one is idempotent, so setup can run again."""
    return [
        (s.label, engine.execute(s.sql, query=s.label, use_database=s.use_database))
        for s in statements
    ]


def _strip(sql: str) -> str:
    # Athena takes one statement per call, without the trailing semicolon.
    return sql.strip().rstrip(";").strip()


def _is_header(row: dict[str, Any], columns: list[str]) -> bool:
    cells = [d.get("VarCharValue") for d in row.get("Data", [])]
    return bool(columns) and cells == columns


def _aws_message(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and "Error" in response:
        err = response["Error"]
        return f"{err.get('Code', '?')}: {err.get('Message', '')}"
    return f"{type(exc).__name__}: {exc}"
