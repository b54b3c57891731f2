"""Issue 19 items 16-17 (CLI): `powerbi generate --out DIR` alone, `expire` without options."""

from __future__ import annotations

from pathlib import Path

from stockpipe.sql.catalog import QUERIES_ROOT


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_powerbi_generate_out_dir_uses_the_packages_queries(cli, tmp_path) -> None:
    # The working directory (tmp_path) has no queries next to the output folder.
    out = tmp_path / "elsewhere" / "pbi"
    result = cli("powerbi", "generate", "--out", str(out))
    assert result.code == 0, result.err
    explicit = tmp_path / "explicit"
    again = cli(
        "powerbi", "generate", "--out", str(explicit), "--queries", str(QUERIES_ROOT / "queries")
    )
    assert again.code == 0, again.err
    generated = _tree(out)
    assert "StockPipe.pbip" in generated and len(generated) > 20
    assert generated == _tree(explicit)
    check = cli("powerbi", "generate", "--out", str(out), "--check")
    assert check.code == 0 and "is up to date" in check.out


def test_expire_without_options_says_what_it_would_do(cli, tmp_path) -> None:
    lake = tmp_path / "lk"
    raw = lake / "raw-data" / "dt=2026-01-05" / "hour=14"
    raw.mkdir(parents=True)
    (raw / "shardId-000000000000-1.jsonl").write_text("{}\n")
    bars = lake / "processed-data" / "bars" / "dt=2026-01-06"
    bars.mkdir(parents=True)
    (bars / "part-0.parquet").write_bytes(b"x")
    before = _tree(lake)
    result = cli("expire", "--lake", str(lake))
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert "No retention was given, so nothing was deleted" in lines[0]
    assert "  raw-data/: 1 date(s), 2026-01-05 to 2026-01-05, 1 file(s) (--raw-days N)" in lines
    assert (
        "  processed-data/bars/: 1 date(s), 2026-01-06 to 2026-01-06, 1 file(s) "
        "(--processed-days N)"
    ) in lines
    assert "  quarantine/: nothing (--quarantine-days N)" in lines
    assert "stockpipe expire --raw-days 30 --dry-run" in lines[-1]
    assert _tree(lake) == before
