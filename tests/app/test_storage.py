"""The content-addressed store writes atomically, deduplicates, and refuses altered files."""

from __future__ import annotations

import hashlib
import io

import pytest

from parapheur.documents.storage import ContentStore, StoreCorruption


def test_put_names_files_by_sha256_and_reads_them_back(tmp_path):
    store = ContentStore(tmp_path)
    data = b"%PDF-1.7 contenu"
    sha = store.put(data)
    assert sha == hashlib.sha256(data).hexdigest()
    assert store.path_for(sha) == tmp_path / sha[:2] / sha[2:]
    assert store.read(sha) == data
    assert store.put(data) == sha  # stored once
    assert len(list(tmp_path.glob("*/*"))) == 1


def test_put_stream_matches_put(tmp_path):
    store = ContentStore(tmp_path)
    data = b"x" * (3 * 1024 * 1024 + 17)
    sha, size = store.put_stream(io.BytesIO(data))
    assert (sha, size) == (hashlib.sha256(data).hexdigest(), len(data))
    assert store.verify(sha)
    assert not list(tmp_path.glob(".incoming-*"))


def test_altered_or_missing_files_are_refused(tmp_path):
    store = ContentStore(tmp_path)
    sha = store.put(b"original")
    path = store.path_for(sha)
    path.chmod(0o640)
    path.write_bytes(b"altered!")
    with pytest.raises(StoreCorruption):
        store.read(sha)
    assert not store.verify(sha)
    path.unlink()
    with pytest.raises(StoreCorruption):
        store.read(sha)


def test_path_for_refuses_non_digests(tmp_path):
    with pytest.raises(ValueError):
        ContentStore(tmp_path).path_for("../../etc/passwd")
