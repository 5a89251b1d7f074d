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


def test_scratch_files_are_removed_and_moved_into_the_store(tmp_path):
    store = ContentStore(tmp_path / "store")
    with store.scratch() as workdir:
        kept, lost = workdir / "kept.pdf", workdir / "lost.pdf"
        kept.write_bytes(b"%PDF-1.7 signed")
        lost.write_bytes(b"%PDF-1.7 a signature that lost its race")
        sha256, size = store.put_file(kept)
        assert not kept.exists() and size == len(b"%PDF-1.7 signed")
    assert store.read(sha256) == b"%PDF-1.7 signed"
    assert not workdir.exists()  # the loser's file went with its directory
    assert list((tmp_path / "store").glob(".scratch-*")) == []


def test_a_scratch_directory_left_by_a_killed_process_is_removed_a_day_later(tmp_path):
    import os
    import time

    store = ContentStore(tmp_path / "store")
    (tmp_path / "store").mkdir()
    stale = tmp_path / "store" / ".scratch-dead"
    stale.mkdir()
    (stale / "half-signed.pdf").write_bytes(b"%PDF")
    recent = tmp_path / "store" / ".scratch-running"
    recent.mkdir()
    day_ago = time.time() - 25 * 3600
    os.utime(stale, (day_ago, day_ago))
    with store.scratch():
        pass
    assert not stale.exists() and recent.exists()
