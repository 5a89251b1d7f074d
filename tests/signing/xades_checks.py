"""Independent checks of XAdES signatures: Debian's xmlsec1, run on a file."""

from __future__ import annotations

import subprocess
from pathlib import Path

DS_NS = "http://www.w3.org/2000/09/xmldsig#"
XADES_NS = "http://uri.etsi.org/01903/v1.1.1#"


def xmlsec_verify(xmlsec1: str, document: bytes, signature_id: str, trusted: Path,
                  tmp_path: Path) -> tuple[bool, str]:
    """Run `xmlsec1 --verify` on the signature `signature_id`; (accepted, xmlsec1's output)."""
    path = tmp_path / f"verify-{signature_id}.xml"
    path.write_bytes(document)
    result = subprocess.run(
        [xmlsec1, "--verify", "--trusted-pem", str(trusted),
         "--id-attr:Id", "Bordereau",
         "--id-attr:Id", f"{XADES_NS}:SignedProperties",
         "--id-attr:Id", f"{DS_NS}:Signature",
         "--node-id", signature_id, str(path)],
        capture_output=True, text=True, timeout=60)
    output = result.stdout + result.stderr
    accepted = result.returncode == 0 and "SignedInfo References (ok/all): 2/2" in output
    return accepted, output
