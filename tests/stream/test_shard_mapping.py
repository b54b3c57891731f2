"""The embedded stream maps partition keys to shards exactly as Kinesis does."""

from __future__ import annotations

import pytest

from stockpipe.stream.base import MAX_HASH_KEY, even_hash_ranges, hash_key
from stockpipe.stream.local import LocalStream

# MD5 digests computed with coreutils `md5sum`, not with Python.
MD5 = {
    "AAPL": "8b10e4ae9eeb5684921a9ab27e4d87aa",
    "MSFT": "b004b3ecde24c85e32c1923f10d3fb62",
    "GOOGL": "e15ce71ff533c9125f11a46c09e2412b",
    "AMZN": "261fd26b0151a81370d097e4ed4c6505",
    "NVDA": "7f5f6a07b14840f4d8a22caa3df2aed0",
    "META": "e59f1c4fb1aa1d70a8c3eb59ff3e461b",
    "TSLA": "ec367bc4f92cd97cec81bf7b43cffaf7",
    "JPM": "bc753df4b894ae195c58995ef66d8e67",
    "IBM": "cbf44511d041dc6d1dd73cc0c033122c",
    "a": "0cc175b9c0f1b6a831c399e269772661",
    "x": "9dd4e461268c8034f5c8564e155c67a6",
}

# Worked out by hand from the first hex digit of each digest:
# 4 shards split [0, 2^128) at 0x4..., 0x8..., 0xc...;
# 3 shards split it at 0x5555...55 and 0xaaaa...aa.
EXPECTED_4 = {
    "AAPL": 2, "MSFT": 2, "GOOGL": 3, "AMZN": 0, "NVDA": 1, "META": 3,
    "TSLA": 3, "JPM": 2, "IBM": 3, "a": 0, "x": 2,
}  # fmt: skip
EXPECTED_3 = {
    "AAPL": 1, "MSFT": 2, "GOOGL": 2, "AMZN": 0, "NVDA": 1, "META": 2,
    "TSLA": 2, "JPM": 2, "IBM": 2, "a": 0, "x": 1,
}  # fmt: skip


@pytest.mark.parametrize("key", sorted(MD5), ids=str)
def test_hash_key_is_md5_as_big_endian_integer(key: str) -> None:
    assert hash_key(key) == int(MD5[key], 16)


def test_even_ranges_match_the_kinesis_console_for_four_shards() -> None:
    # The starting hash keys CreateStream gives a 4-shard stream (2^126 multiples).
    assert even_hash_ranges(4) == [
        (0, 85070591730234615865843651857942052863),
        (85070591730234615865843651857942052864, 170141183460469231731687303715884105727),
        (170141183460469231731687303715884105728, 255211775190703847597530955573826158591),
        (255211775190703847597530955573826158592, 340282366920938463463374607431768211455),
    ]
    assert MAX_HASH_KEY == 340282366920938463463374607431768211455


@pytest.mark.parametrize(
    ("shards", "expected"), [(4, EXPECTED_4), (3, EXPECTED_3)], ids=["4-shards", "3-shards"]
)
def test_partition_key_goes_to_the_shard_whose_range_holds_its_hash(
    tmp_path, shards: int, expected: dict[str, int]
) -> None:
    stream = LocalStream(tmp_path / "s.db", shard_count=shards)
    try:
        for key, index in expected.items():
            assert stream.shard_for(key) == f"shardId-{index:012d}", key
            [result] = stream.put_records([(key, b"{}")])
            assert result.shard_id == f"shardId-{index:012d}"
    finally:
        stream.close()
