"""The DGFiP PES V2 schemas shipped in `schemas/` (v5.17), loaded once per process."""

from __future__ import annotations

import threading
from pathlib import Path

from lxml import etree

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
ALLER = "PES_V2/Rev0/PES_Aller.xsd"
ACQUIT = "PES_V2/Rev0/PES_V2_Acquit_Autonome_V2.xsd"
RETOUR = "PES_V2/RETOUR/Rev0/PES_Retour.xsd"

_LOCK = threading.Lock()
_CACHE: dict[str, etree.XMLSchema] = {}


class _SerialNumberAsString(etree.Resolver):
    """Loads xmldsig-core-schema.xsd with X509SerialNumber typed `string`.

    libxml2 cannot hold the 128-bit and larger serial numbers of real certificates in an `integer`;
    the copy shipped here is typed `string` already, and this keeps it so for a replaced set.
    """

    def resolve(self, url: str, pubid: str | None, context: object) -> object:
        if not url.endswith("xmldsig-core-schema.xsd"):
            return None
        path = Path(url.removeprefix("file://"))
        text = path.read_text(encoding="utf-8").replace(
            'name="X509SerialNumber" type="integer"', 'name="X509SerialNumber" type="string"')
        return self.resolve_string(text, context, base_url=str(path))


def schema(relative: str) -> etree.XMLSchema:
    """The compiled schema at `relative` (ALLER, ACQUIT or RETOUR)."""
    with _LOCK:
        compiled = _CACHE.get(relative)
        if compiled is None:
            parser = etree.XMLParser(resolve_entities=False, no_network=True)
            parser.resolvers.add(_SerialNumberAsString())
            document = etree.parse(str(SCHEMA_DIR / relative), parser)
            compiled = _CACHE[relative] = etree.XMLSchema(document)
        return compiled


def schema_errors(relative: str, tree: etree._Element | etree._ElementTree
                  ) -> list[etree._LogEntry]:
    """The schema's errors on `tree` (empty when valid); one validation at a time per process."""
    compiled = schema(relative)
    with _LOCK:
        if compiled.validate(tree):
            return []
        return [e for e in compiled.error_log if e.level_name == "ERROR"]
