"""The production entry point (`gunicorn parapheur.wsgi:app`) builds the application once and puts
what it built out of the cyclic collector's reach (`gc.freeze`), so that the collections requests
trigger do not scan the whole application each time; it imports the signing layer up front."""

from __future__ import annotations

import os
import subprocess
import sys


def test_the_wsgi_module_freezes_what_it_built(tmp_path):
    env = {**os.environ, "PARAPHEUR_DATA_DIR": str(tmp_path / "var"),
           "PARAPHEUR_SECRET_KEY": "wsgi-test"}
    env.pop("PARAPHEUR_DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, "-c", "import gc, sys, parapheur.wsgi as w; "
         "print(type(w.app).__name__, gc.get_freeze_count(), 'signing.keys' in sys.modules)"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    name, frozen, signing_loaded = result.stdout.split()
    assert name == "Flask"
    assert signing_loaded == "True"  # imported up front, not by the first signing form
    assert int(frozen) > 50_000  # the modules, the application, the mappers
