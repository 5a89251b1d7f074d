"""`parapheur store verify` finds altered files; `parapheur store gc` removes only orphans."""

from __future__ import annotations

import os
import time

from app_helpers import run_cli

from parapheur.db import get_session
from parapheur.documents.models import Document
from parapheur.documents.storage import ContentStore


def test_store_verify_names_the_altered_file(demo):
    result = run_cli(demo, "store", "verify")
    assert result.returncode == 0, result.stderr
    with demo.app_context():
        sha = get_session().get(Document, 1).current_version.sha256
    path = ContentStore(demo.config["DATA_DIR"] / "store").path_for(sha)
    path.chmod(0o640)
    path.write_bytes(b"%PDF-1.7 altered")
    result = run_cli(demo, "store", "verify")
    assert result.returncode == 1
    assert f"altéré : {sha}" in result.stderr


def test_store_gc_removes_old_orphans_only(demo):
    store = ContentStore(demo.config["DATA_DIR"] / "store")
    old_orphan = store.put(b"left by a rolled-back signature")
    fresh_orphan = store.put(b"written by a transaction still in flight")
    two_hours_ago = time.time() - 7200
    os.utime(store.path_for(old_orphan), (two_hours_ago, two_hours_ago))
    with demo.app_context():
        referenced = get_session().get(Document, 1).current_version.sha256
    os.utime(store.path_for(referenced), (two_hours_ago, two_hours_ago))

    dry = run_cli(demo, "store", "gc", "--dry-run")
    assert dry.returncode == 0 and old_orphan in dry.stdout
    assert store.path_for(old_orphan).exists()

    result = run_cli(demo, "store", "gc", "--older-than", "60")
    assert result.returncode == 0, result.stderr
    assert not store.path_for(old_orphan).exists()
    assert store.path_for(fresh_orphan).exists()
    assert store.path_for(referenced).exists()
    assert run_cli(demo, "store", "verify").returncode == 0
