"""A content-addressed file store: files are named by their SHA-256 and written atomically."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from parapheur.errors import N_, ParapheurError

CHUNK = 1024 * 1024
#: A scratch directory untouched this long belongs to no running batch (its process died).
STALE_SCRATCH_SECONDS = 24 * 3600


class StoreCorruption(ParapheurError):
    """A stored file no longer matches its hash (or is missing): never served."""

    status = 500

    def __init__(self, sha256: str, reason: str):
        super().__init__(N_("Le fichier %(value)s… est altéré ou manquant (%(reason)s) : il "
                            "n'est pas servi. Prévenez l'administrateur."),
                         value=sha256[:12], reason=reason)
        self.sha256 = sha256


class ContentStore:
    """Files under `root/ab/cdef…`; writing the same content twice stores it once."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def path_for(self, sha256: str) -> Path:
        """Where the file with this hash lives."""
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
        return self.root / sha256[:2] / sha256[2:]

    def put(self, data: bytes) -> str:
        """Store bytes; return their SHA-256."""
        sha256 = hashlib.sha256(data).hexdigest()
        self._write(sha256, [data])
        return sha256

    def put_stream(self, stream: BinaryIO) -> tuple[str, int]:
        """Store a stream without holding it in memory; return (sha256, size)."""
        self.root.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        fd, tmp_name = tempfile.mkstemp(dir=self.root, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as tmp:
                while chunk := stream.read(CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                    tmp.write(chunk)
                tmp.flush()
                os.fsync(tmp.fileno())
            sha256 = digest.hexdigest()
            self._publish(Path(tmp_name), sha256)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        return sha256, size

    def put_file(self, path: Path) -> tuple[str, int]:
        """Move a file of this store's filesystem (a scratch file) into the store, streaming.

        Return (sha256, size). The file is hashed in chunks and renamed into place, never read
        whole into memory; when the same content is already stored, the file is just removed.
        """
        digest = hashlib.sha256()
        size = 0
        with open(path, "rb") as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
            os.fsync(handle.fileno())
        sha256 = digest.hexdigest()
        if self.path_for(sha256).exists():
            Path(path).unlink()
        else:
            self._publish(Path(path), sha256)
        return sha256, size

    @contextlib.contextmanager
    def scratch(self) -> Iterator[Path]:
        """A private directory inside the store for files being made (signed PDFs, say).

        On the store's filesystem, so `put_file` renames instead of copying; whatever is left in
        it (the files of signatures that lost a race or failed) is removed on exit, so no
        unreferenced file stays behind. Dot-named: `stored_digests` and `store gc` ignore it.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        self._remove_stale_scratch()
        path = self.root / f".scratch-{uuid.uuid4().hex}"
        path.mkdir(mode=0o700)
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)

    def _remove_stale_scratch(self) -> None:
        """Remove the scratch directories of processes killed mid-batch (untouched for a day)."""
        limit = time.time() - STALE_SCRATCH_SECONDS
        for entry in self.root.glob(".scratch-*"):
            try:
                if entry.is_dir() and entry.stat().st_mtime < limit:
                    shutil.rmtree(entry, ignore_errors=True)
            except OSError:
                continue

    def checked_path(self, sha256: str) -> Path:
        """The path of a stored file after re-hashing it (streamed), to be read as a stream."""
        path = self.path_for(sha256)
        if not path.exists():
            raise StoreCorruption(sha256, "absent du stockage")
        if not self.verify(sha256):
            raise StoreCorruption(sha256, "empreinte SHA-256 différente")
        return path

    def _write(self, sha256: str, chunks: list[bytes]) -> None:
        target = self.path_for(sha256)
        if target.exists():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as tmp:
                for chunk in chunks:
                    tmp.write(chunk)
                tmp.flush()
                os.fsync(tmp.fileno())
            self._publish(Path(tmp_name), sha256)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise

    def _publish(self, tmp_path: Path, sha256: str) -> None:
        target = self.path_for(sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(tmp_path, 0o440)
        os.replace(tmp_path, target)
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def read(self, sha256: str) -> bytes:
        """The file's bytes, checked against their hash."""
        path = self.path_for(sha256)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise StoreCorruption(sha256, "absent du stockage") from None
        if hashlib.sha256(data).hexdigest() != sha256:
            raise StoreCorruption(sha256, "empreinte SHA-256 différente")
        return data

    def verify(self, sha256: str) -> bool:
        """Whether the stored file is present and matches its hash (streamed)."""
        path = self.path_for(sha256)
        if not path.exists():
            return False
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
        return digest.hexdigest() == sha256


def stored_digests(root: Path) -> dict[str, Path]:
    """Every file of a store, by its SHA-256 name (temporary files left aside)."""
    found: dict[str, Path] = {}
    if not root.is_dir():
        return found
    for prefix in root.iterdir():
        if len(prefix.name) != 2 or not prefix.is_dir():
            continue
        for path in prefix.iterdir():
            if path.is_file() and not path.name.startswith("."):
                found[prefix.name + path.name] = path
    return found
