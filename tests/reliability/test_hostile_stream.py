"""Hostile payloads through the real stream, archive and process stages.

For every input: no crash; each bad record is in quarantine/ with a reason; good records
are in bars; read = kept + duplicates + quarantined; the raw zone holds every record once;
no file appears outside the lake root; and SQL over the lake still answers correctly.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_support import (
    LAKE_LAYOUT,
    SQL_SYMBOLS,
    TICKER,
    TRAVERSAL_SYMBOLS,
    UNICODE_SYMBOLS,
    Sandbox,
    dumps,
    good_bar,
    scratch_dir,
)

from stockpipe.config import load_settings
from stockpipe.errors import StreamLimitError
from stockpipe.pipeline import stages
from stockpipe.sql import reset_engines, run_query
from stockpipe.stream.base import MAX_RECORD_BYTES, batched_puts

FUZZ = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
PRICES = ("open", "high", "low", "close")
FIELDS = tuple(good_bar())

# -- hostile payload strategies: each one is invalid by construction ----------------

LONE_SURROGATES = st.sampled_from(["\ud800", "A\udfffB", "AAPL\udc00"])
bad_symbol_text = st.one_of(
    st.sampled_from(TRAVERSAL_SYMBOLS + SQL_SYMBOLS + UNICODE_SYMBOLS),
    LONE_SURROGATES,
    st.text(max_size=20).filter(lambda s: not TICKER.fullmatch(s)),
)
not_a_number = st.one_of(
    st.text(max_size=6),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
bad_volume = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),  # any float, even 5.0, is not an int
    st.integers(max_value=-1),
    st.integers(min_value=2**63, max_value=10**40),
    not_a_number.filter(lambda v: not isinstance(v, int) or isinstance(v, bool)),
)
non_finite = st.sampled_from([math.nan, math.inf, -math.inf])
huge_int = st.integers(min_value=10**309, max_value=10**400) | st.integers(
    min_value=-(10**400), max_value=-(10**309)
)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A good record with one field made bad: wrong type, NaN/Infinity, huge, missing..."""
    doc = good_bar("AAPL", draw(st.integers(0, 300)))
    kind = draw(
        st.sampled_from(
            ["price_type", "price_nonfinite", "price_huge", "volume", "symbol", "symbol_type"]
            + ["missing", "ts", "interval", "version", "non_positive"]
        )
    )
    if kind == "price_type":
        doc[draw(st.sampled_from(PRICES))] = draw(not_a_number)
    elif kind == "price_nonfinite":
        doc[draw(st.sampled_from(PRICES))] = draw(non_finite)
    elif kind == "price_huge":
        doc[draw(st.sampled_from(PRICES))] = draw(huge_int)
    elif kind == "volume":
        doc["volume"] = draw(bad_volume)
    elif kind == "symbol":
        doc["symbol"] = draw(bad_symbol_text)
    elif kind == "symbol_type":
        doc["symbol"] = draw(not_a_number.filter(lambda v: not isinstance(v, str)))
    elif kind == "missing":
        del doc[draw(st.sampled_from(FIELDS))]
    elif kind == "ts":
        doc["ts"] = draw(st.text(max_size=25) | LONE_SURROGATES)
    elif kind == "interval":
        doc["interval"] = draw(st.text(max_size=8).filter(lambda s: s not in ("1min", "5min")))
        if doc["interval"] in ("15min", "30min", "60min", "1day"):
            doc["interval"] = "2min"
    elif kind == "version":
        doc["schema_version"] = draw(st.integers().filter(lambda v: v != 1) | not_a_number)
    else:
        doc[draw(st.sampled_from(PRICES))] = -draw(st.floats(0, 1e6))
    return dumps(doc)


@st.composite
def truncated(draw: st.DrawFn) -> bytes:
    """A strict prefix of a JSON object is never a JSON object."""
    body = dumps(good_bar("MSFT", draw(st.integers(0, 300))))
    return body[: draw(st.integers(0, len(body) - 1))]


deeply_nested = st.integers(1000, 50_000).map(lambda n: b'{"a":' + b"[" * n + b"]" * n + b"}")
hostile_payload = st.one_of(
    st.binary(max_size=200), truncated(), mutated(), deeply_nested, st.just(b""), st.just(b"{}")
)

good_keys = st.lists(
    st.tuples(st.sampled_from(["AAPL", "MSFT", "BRK.B"]), st.integers(0, 390)),
    unique=True,
    max_size=8,
)


def _partition_key(payload: bytes, fallback: str) -> str:
    """Producers key by symbol: use the hostile symbol itself when the stream accepts it."""
    import json

    try:
        sym = json.loads(payload).get("symbol")
    except Exception:  # noqa: BLE001 - any garbage means "no usable symbol"
        return fallback
    if isinstance(sym, str) and 1 <= len(sym) <= 256:
        try:
            sym.encode("utf-8")
            return sym
        except UnicodeEncodeError:
            return fallback
    return fallback


def run_through_pipeline(
    box: Sandbox, goods: list[bytes], bads: list[bytes], order: list[int], max_records: int = 7
) -> dict[str, object]:
    """Put every payload, archive, process; return what the checks need."""
    payloads = goods + bads
    entries = [
        (_partition_key(payloads[i], "hostile" if i >= len(goods) else "good"), payloads[i])
        for i in order
    ]
    stream = box.stream()
    before = box.outside_files()
    positions: list[tuple[str, str]] = []
    for call in batched_puts(entries):
        positions += [(r.shard_id, r.sequence_number) for r in stream.put_records(call)]
    lake = box.lake()
    stages.run_archive(stream, lake, max_records=max_records)
    result = stages.run_process(stream, lake, max_records=max_records)
    stream.close()
    bad_positions = {positions[k] for k, i in enumerate(order) if i >= len(goods)}
    return {"before": before, "bad_positions": bad_positions, "totals": result.extra}


def check_lake(box: Sandbox, run: dict[str, object], good_docs: list[dict], n_total: int) -> None:
    quarantine = box.rows("quarantine")
    bad_positions = run["bad_positions"]
    assert {(r["shard_id"], r["sequence_number"]) for r in quarantine} == bad_positions
    assert len(quarantine) == len(bad_positions)
    for row in quarantine:
        assert isinstance(row["reason"], str) and row["reason"].strip()
        assert isinstance(row["detail"], str) and row["detail"].strip()
    bars = box.rows("processed-data/bars")
    expected = {(d["symbol"], d["ts"]) for d in good_docs}
    assert {(b["symbol"], b["ts"].strftime("%Y-%m-%dT%H:%M:%SZ")) for b in bars} == expected
    assert len(bars) == len(expected)
    totals = run["totals"]
    assert totals["read"] == n_total
    assert totals["read"] == totals["kept"] + totals["duplicates"] + totals["quarantined"]
    assert totals["quarantined"] == len(bad_positions)
    assert totals["kept"] == len(expected)
    assert box.raw_count() == n_total
    # Nothing outside the lake root, nothing in the lake off the layout, no temporaries.
    assert box.outside_files() == run["before"]
    off_layout = [p for p in box.lake_files() if not LAKE_LAYOUT.match(p)]
    assert off_layout == []


@FUZZ
@given(keys=good_keys, bads=st.lists(hostile_payload, min_size=1, max_size=10), data=st.data())
def test_fuzzed_payloads_are_quarantined_and_never_escape_the_lake(
    tmp_path: Path, keys: list[tuple[str, int]], bads: list[bytes], data: st.DataObject
) -> None:
    good_docs = [good_bar(sym, minute, 50.0 + minute) for sym, minute in keys]
    # Exact re-sends of some good records: duplicates, not quarantine.
    resend = data.draw(st.lists(st.sampled_from(good_docs), max_size=3)) if good_docs else []
    goods = [dumps(d) for d in good_docs + resend]
    order = data.draw(st.permutations(range(len(goods) + len(bads))))
    with tempfile.TemporaryDirectory(dir=scratch_dir(tmp_path)) as tmp:
        box = Sandbox.create(Path(tmp))
        run = run_through_pipeline(box, goods, bads, list(order), max_records=10)
        check_lake(box, run, good_docs, len(goods) + len(bads))
        assert run["totals"]["duplicates"] == len(resend)


def _corpus() -> dict[str, bytes]:
    """One payload of every category the issue names, spelled out."""
    base = good_bar("AAPL", 5)
    nan_doc = dict(base, open=math.nan)
    return {
        "random_bytes": bytes(range(256)),
        "invalid_utf8": b'{"symbol": "\xff\xfe"}',
        "truncated_json": dumps(base)[:40],
        "wrong_type_price": dumps(dict(base, close="101.5")),
        "wrong_type_volume": dumps(dict(base, volume="12")),
        "bool_price": dumps(dict(base, high=True)),
        "nan": dumps(nan_doc),
        "infinity": dumps(dict(base, high=math.inf)),
        "huge_float": dumps(base).replace(b'"open": 100.0', b'"open": 1e400'),
        "huge_int_price": dumps(dict(base, low=10**400)),
        "huge_volume": dumps(dict(base, volume=2**64)),
        "traversal_symbol": dumps(dict(base, symbol="../../etc")),
        "slash_symbol": dumps(dict(base, symbol="A/B")),
        "sql_symbol": dumps(dict(base, symbol="x'; DROP TABLE bars; --")),
        "control_symbol": dumps(dict(base, symbol="AA\x00\x1bPL")),
        "unicode_symbol": dumps(dict(base, symbol="ÄPPLE😀")),
        "surrogate_source": dumps(dict(base, source="\ud800")),
        "deep_nesting": b'{"a":' + b"[" * 20000 + b"]" * 20000 + b"}",
        "json_array": b"[1, 2, 3]",
        "empty": b"",
    }


def test_every_named_hostile_category_end_to_end_and_sql_stays_correct(tmp_path: Path) -> None:
    corpus = _corpus()
    good_docs = [good_bar(sym, m, 60.0 + m) for sym in ("AAPL", "MSFT") for m in range(10)]
    goods = [dumps(d) for d in good_docs]
    bads = list(corpus.values())
    box = Sandbox.create(tmp_path)
    run = run_through_pipeline(box, goods, bads, list(range(len(goods) + len(bads))))
    check_lake(box, run, good_docs, len(goods) + len(bads))
    reasons = {(r["sequence_number"], r["reason"]) for r in box.rows("quarantine")}
    assert len(reasons) == len(corpus)

    conf = load_settings({"lake": str(box.lake_root), "home": str(tmp_path / "home")}).settings
    try:
        count = run_query("SELECT count(*) FROM bars", settings=conf).rows
        assert count == [(20,)]
        for sym in (*SQL_SYMBOLS, *TRAVERSAL_SYMBOLS):
            hit = run_query("SELECT count(*) FROM bars WHERE symbol = ?", [sym], settings=conf)
            assert hit.rows == [(0,)]
        per_symbol = run_query(
            "SELECT symbol, count(*), sum(volume) FROM bars GROUP BY symbol ORDER BY symbol",
            settings=conf,
        ).rows
        # volume = 1000 + minute for minutes 0..9: 10 * 1000 + 45 per symbol.
        assert per_symbol == [("AAPL", 10, 10045), ("MSFT", 10, 10045)]
        quarantined = run_query("SELECT count(*) FROM quarantine", settings=conf).rows
        assert quarantined == [(len(corpus),)]
        # The SQL-looking symbols were bound, never executed: the tables are still whole.
        assert run_query("SELECT count(*) FROM bars", settings=conf).rows == [(20,)]
    finally:
        reset_engines()


@pytest.mark.parametrize(
    ("entries", "needle"),
    [
        ([("AAPL", b"x" * (MAX_RECORD_BYTES + 1))], "1 MiB"),
        ([("AAPL", b"{}"), ("MSFT", b"y" * MAX_RECORD_BYTES)], "1 MiB"),
        ([("K", b"z" * (MAX_RECORD_BYTES - 10))] * 6, "5 MiB"),
        ([("K", b"{}")] * 501, "500"),
        ([("", b"{}")], "partition key"),
        ([("K" * 257, b"{}")], "partition key"),
        ([("\ud800", b"{}")], "not valid Unicode"),
    ],
    ids=["record-over-1MiB", "second-record-over-1MiB", "call-over-5MiB", "501-records",
         "empty-key", "key-over-256", "surrogate-key"],
)  # fmt: skip
def test_oversized_or_invalid_puts_are_refused_whole(
    tmp_path: Path, entries: list[tuple[str, bytes]], needle: str
) -> None:
    box = Sandbox.create(tmp_path)
    stream = box.stream()
    with pytest.raises(StreamLimitError, match=needle):
        stream.put_records(entries)
    # Nothing half-written: no record of the refused call reached any shard.
    assert sum(stream.pending(s.shard_id, None) for s in stream.list_shards()) == 0
    stream.put_records([("AAPL", dumps(good_bar()))])
    assert sum(stream.pending(s.shard_id, None) for s in stream.list_shards()) == 1
    stream.close()
