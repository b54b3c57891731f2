"""The contract of the Power BI generator: what a measure is, what a generated file is.

Everything under `power-bi/` is a pure function of `stockpipe.contract` and the
definitions here, so regenerating gives byte-identical files (a test enforces it).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

# Fixed namespace: ids derived from names stay stable across runs and machines.
NAMESPACE = uuid.UUID("6f1c2a8e-4b7d-5e90-9a3c-2d41f0b8c7e5")

SCHEMA_BASE = "https://developer.microsoft.com/json-schemas/fabric/"
PROJECT_NAME = "StockPipe"
MODEL_FOLDER = f"{PROJECT_NAME}.SemanticModel"
REPORT_FOLDER = f"{PROJECT_NAME}.Report"

# Default values of the model's M parameters (users change them in Desktop).
DEFAULT_DSN = "StockPipeAthena"
DEFAULT_DATABASE = "stockpipe"
DEFAULT_LAKE_FOLDER = "C:\\stockpipe\\data\\lake"


def stable_uuid(*parts: str) -> str:
    """A GUID derived from names, so lineage tags never churn between runs."""
    return str(uuid.uuid5(NAMESPACE, "/".join(parts)))


def stable_name(*parts: str) -> str:
    """A 20-hex-digit PBIR object name (pages, visuals), derived from names."""
    return hashlib.sha1("/".join(parts).encode(), usedforsecurity=False).hexdigest()[:20]


def schema_url(path: str) -> str:
    return SCHEMA_BASE + path


def dump_json(doc: Any) -> str:
    """JSON exactly as committed: 2-space indent, key order as built, final newline."""
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


@dataclass(frozen=True)
class Measure:
    """A DAX measure and the named Athena query that computes the same number."""

    name: str
    table: str
    dax: str
    format_string: str
    description: str
    # Name of src/stockpipe/sql/athena_queries/queries/<query>.sql (the SQL twin of this measure).
    query: str
    # The exact definition, in words, shown in the guide.
    definition: str


@dataclass(frozen=True)
class GeneratedFile:
    """One file of the generated project, path relative to `power-bi/`."""

    path: str
    content: str
