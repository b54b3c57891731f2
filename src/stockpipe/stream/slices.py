"""Hash-key slices: which records worker k of N owns (`stockpipe process --workers N`).

Kinesis (and `LocalStream`) route a record by the MD5 hash key of its partition key
(`base.hash_key`, 0 .. 2**128 - 1). Every record of a symbol has the same partition key,
hence the same hash key, so cutting the hash-key space into N equal slices gives each
series to exactly one worker whatever the shards are: a split or a merge moves hash keys
between shards, never between slices.

Worker k of N owns the hash keys `[k * 2**128 // N, (k + 1) * 2**128 // N)`. It reads the
shards whose range meets its slice and keeps the records whose hash key is in it; a shard
wholly inside the slice needs no per-record check. With N dividing an evenly split shard
count, each worker reads exactly its own shards.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stockpipe.errors import ConfigError
from stockpipe.stream.base import MAX_HASH_KEY, ShardInfo, StreamRecord, hash_key

SPACE = MAX_HASH_KEY + 1
#: More workers than this is a typo on any machine stockpipe runs on.
MAX_WORKERS = 64
_SPEC_RE = re.compile(r"^([0-9]{1,3})/([0-9]{1,3})$")


def check_workers(count: int) -> int:
    if not 1 <= count <= MAX_WORKERS:
        raise ConfigError(f"--workers {count} is out of range: use 1 to {MAX_WORKERS}")
    return count


def owner(key: int, count: int) -> int:
    """The index of the slice (of `count`) that holds hash key `key`."""
    k = key * count // SPACE
    # Slice bounds are floors of k * SPACE / count: a key just below a bound that is not
    # a whole number belongs to the next slice.
    return k + 1 if k + 1 < count and HashSlice(k + 1, count).start <= key else k


@dataclass(frozen=True, slots=True)
class HashSlice:
    """Slice `index` of `count`: hash keys `start` (inclusive) to `end` (exclusive)."""

    index: int
    count: int

    def __post_init__(self) -> None:
        check_workers(self.count)
        if not 0 <= self.index < self.count:
            raise ConfigError(f"worker {self.index} of {self.count} is out of range")

    @classmethod
    def parse(cls, spec: str) -> HashSlice:
        """`"K/N"` (worker K of N, counted from 0)."""
        match = _SPEC_RE.match(spec)
        if match is None:
            raise ConfigError(f"worker {spec!r} is not K/N, e.g. 0/2")
        return cls(int(match.group(1)), int(match.group(2)))

    @property
    def start(self) -> int:
        return self.index * SPACE // self.count

    @property
    def end(self) -> int:
        return (self.index + 1) * SPACE // self.count

    @property
    def writer(self) -> str:
        """The writer name of this worker's files and manifests (lake/manifest.py)."""
        return f"w{self.index}"

    def owns(self, key: int) -> bool:
        return self.start <= key < self.end

    def meets(self, shard: ShardInfo) -> bool:
        """Whether any hash key of `shard` is in the slice."""
        return shard.starting_hash_key < self.end and shard.ending_hash_key >= self.start

    def covers(self, shard: ShardInfo) -> bool:
        """Whether every hash key of `shard` is in the slice."""
        return self.start <= shard.starting_hash_key and shard.ending_hash_key < self.end

    def keep(self, records: list[StreamRecord]) -> list[StreamRecord]:
        """The records whose partition key hashes into the slice (order kept)."""
        mine: dict[str, bool] = {}  # a batch repeats its keys: hash each once
        for r in records:
            if r.partition_key not in mine:
                mine[r.partition_key] = self.owns(hash_key(r.partition_key))
        return [r for r in records if mine[r.partition_key]]
