"""A batch of files larger than the process may keep open signs all the same."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from pdfs import simple_pdf


def test_a_batch_keeps_few_files_open(dev_pki, passphrase, tmp_path):
    sources = tmp_path / "in"
    targets = tmp_path / "out"
    sources.mkdir()
    targets.mkdir()
    pdf = simple_pdf()
    count = 150
    for index in range(count):
        (sources / f"doc-{index:03}.pdf").write_bytes(pdf)
    script = textwrap.dedent(f"""
        import resource, sys
        from pathlib import Path
        from signing.batch import BatchSigner
        from signing.keys import Pkcs12Key
        from signing.pades import SignOptions
        # Far fewer descriptors than files: the batch must not open them all at once.
        resource.setrlimit(resource.RLIMIT_NOFILE, (96, 96))
        key = Pkcs12Key.open(Path({str(dev_pki.pkcs12_path("maire"))!r}), {passphrase!r})
        pairs = [(p, Path({str(targets)!r}) / p.name)
                 for p in sorted(Path({str(sources)!r}).glob("*.pdf"))]
        outcomes = BatchSigner(key, SignOptions()).sign_files(pairs)
        failed = [o for o in outcomes if o.error is not None]
        print(len(outcomes), len(failed), failed[0].error.message if failed else "")
        sys.exit(1 if failed else 0)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(list(targets.glob("*.pdf"))) == count
    assert not list(targets.glob(".*.part"))
