"""A lake in a local folder. Atomic writes: temporary file, fsync, rename."""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path

import pyarrow.fs as pafs

from stockpipe.errors import LakeError
from stockpipe.lake.base import TMP_PREFIX, Lake, safe_relpath


class LocalLake(Lake):
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self._root = Path(root).resolve()
        self.root = str(self._root)

    def _path(self, relpath: str) -> Path:
        path = self._root / safe_relpath(relpath)
        # Defence in depth: the resolved path must still lie under the root.
        if self._root not in path.resolve().parents:
            raise LakeError(f"lake path {relpath!r} resolves outside {self.root}")
        return path

    def uri(self, relpath: str) -> str:
        return str(self._path(relpath))

    def read_bytes(self, relpath: str) -> bytes:
        return self._path(relpath).read_bytes()

    def write_bytes(self, relpath: str, data: bytes) -> None:
        path = self._path(relpath)
        tmp = path.parent / f"{TMP_PREFIX}{uuid.uuid4().hex}"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
            _fsync_dir(path.parent)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise LakeError(f"cannot write {path}: {exc.strerror or exc}") from exc

    def exists(self, relpath: str) -> bool:
        return self._path(relpath).is_file()

    def list(self, prefix: str) -> list[str]:
        base = self._path(prefix) if prefix else self._root
        if not base.exists():
            return []
        out = []
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = [d for d in dirnames if not d.startswith(TMP_PREFIX)]
            for name in filenames:
                if name.startswith(TMP_PREFIX):
                    continue
                full = Path(dirpath) / name
                out.append(full.relative_to(self._root).as_posix())
        return sorted(out)

    def delete(self, relpath: str) -> None:
        path = self._path(relpath)
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise LakeError(f"cannot delete {path}: {exc.strerror or exc}") from exc

    def arrow_filesystem(self) -> tuple[object, str]:
        return pafs.LocalFileSystem(), self.root


def _fsync_dir(path: Path) -> None:
    # The rename is durable only once the directory entry is on disk.
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
