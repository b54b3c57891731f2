"""The data lake: raw-data/, processed-data/, quarantine/ and _checkpoints/."""

from __future__ import annotations

from stockpipe.lake.base import Lake, safe_relpath


def open_lake(location: str, region: str | None = None) -> Lake:
    """A lake from a folder path or an s3://bucket/prefix URI (in `region`, if given)."""
    if location.startswith("s3://"):
        from stockpipe.lake.s3 import S3Lake

        return S3Lake(location, region=region)
    from stockpipe.lake.local import LocalLake

    return LocalLake(location)


__all__ = ["Lake", "open_lake", "safe_relpath"]
