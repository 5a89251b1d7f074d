"""Checks a PES_Aller before it leaves: the DGFiP schemas, then Hélios's pre-control rules.

The schemas' annotations state rejection rules an XSD cannot express (the TypBord/TypPce/NatPce
triplets, NbrPce, totals, MtCumulAnnuel when dematerialised, bank accounts for transfers, PJRef ↔
PJ, signatures ↔ InfoDematerialisee…). Each problem names its bordereau and mandat, in French.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from lxml import etree

from parapheur.accounting.pes import schemas
from parapheur.errors import ParapheurError
from signing.xades import check_bordereau_signature

DS_SIGNATURE = "{http://www.w3.org/2000/09/xmldsig#}Signature"
#: Largest PES file read back (acquits, retours, or a file checked from the command line).
MAX_PES_BYTES = 512 * 1024 * 1024

#: Known (TypBord, TypPce, NatPce) triplets of spending this product accepts: those the DGFiP
#: schema annotations name (Class_LigneMandatAller.xsd, Class_MandatAller.xsd), plus the ordinary
#: and market mandats. Triplets whose annotations demand a RattachPiece block (02 02 06,
#: 01 02 09, 01 13 01, 02 02 10…) are left out: this product does not write that block.
KNOWN_TRIPLETS: frozenset[tuple[str, str, str]] = frozenset({
    ("01", "01", "01"), ("01", "01", "02"), ("01", "01", "03"), ("01", "01", "04"),
    ("01", "01", "05"),
    ("01", "09", "01"), ("01", "09", "02"),
    ("01", "06", "01"),
})
TRIPLET_LABELS = {"01": "mandat ordinaire", "09": "mandat sur marché", "06": "mandat global"}
#: ModRegl values that need the tiers' bank account (virement, virement gros montant).
TRANSFER_MODES = frozenset({"03", "05"})
#: ModRegl values with which no bank account may be given.
NO_ACCOUNT_MODES = frozenset({"01", "02", "04", "07", "08", "09", "11"})


@dataclass(frozen=True)
class Problem:
    """One reason Hélios would reject the file, located by bordereau and mandat."""

    message: str
    bordereau: str | None = None
    mandat: str | None = None

    def __str__(self) -> str:
        where = []
        if self.bordereau:
            where.append(f"bordereau {self.bordereau}")
        if self.mandat:
            where.append(f"mandat {self.mandat}")
        prefix = ", ".join(where)
        return f"{prefix[:1].upper()}{prefix[1:]} : {self.message}" if prefix else self.message


class PesInvalid(ParapheurError):
    """The PES would be rejected: nothing was written; `problems` lists why."""

    status = 422
    code = "pes-invalid"

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"- {p}" for p in self.problems)
        super().__init__(f"Le fichier PES n'a pas été produit : {len(self.problems)} "
                         f"problème(s) à corriger.\n{lines}")


def parse_pes(document: bytes) -> etree._Element:
    """Parse PES bytes safely (no entities, no network, bounded size); ParapheurError if not XML."""
    if len(document) > MAX_PES_BYTES:
        raise ParapheurError("Le fichier PES dépasse la taille maximale acceptée (512 Mo).",
                             status=413)
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True,
                             load_dtd=False)
    try:
        return etree.fromstring(document, parser)
    except etree.XMLSyntaxError as exc:
        raise ParapheurError(f"Le fichier n'est pas un XML lisible : {exc}") from None


def _v(element: etree._Element | None, path: str) -> str | None:
    if element is None:
        return None
    found = element.find(path)
    return None if found is None else found.get("V")


def _decimal(value: str | None) -> Decimal | None:
    try:
        return None if value is None else Decimal(value)
    except InvalidOperation:
        return None


def bordereau_label(bordereau: etree._Element) -> str:
    """« 12 (exercice 2026) » from a Bordereau element."""
    number = _v(bordereau, "BlocBordereau/IdBord") or "?"
    exercice = _v(bordereau, "BlocBordereau/Exer")
    return f"{number} (exercice {exercice})" if exercice else number


def _context(element: etree._Element) -> tuple[str | None, str | None]:
    bordereau = mandat = None
    for ancestor in element.iterancestors():
        if ancestor.tag == "Piece":
            mandat = _v(ancestor, "BlocPiece/InfoPce/IdPce") or "?"
        elif ancestor.tag == "Bordereau":
            bordereau = bordereau_label(ancestor)
    if element.tag == "Bordereau":
        bordereau = bordereau_label(element)
    return bordereau, mandat


# --- schema errors, in French -----------------------------------------------------------------

_ELEMENT = re.compile(r"^Element '(?:\{[^}]*\})?([^']+)'(?:, attribute '([^']+)')?: (.*)$", re.S)
_FACETS = (
    (re.compile(r"\[facet 'maxLength'\] The value '(.*)' has a length of '?(\d+)'?; this exceeds "
                r"the allowed maximum length of '?(\d+)'?"),
     lambda m, name: f"« {m[1]} » ({m[2]} caractères) dépasse les {m[3]} caractères permis "
                     f"pour {name}"),
    (re.compile(r"\[facet 'minLength'\] The value '(.*)' has a length of '?(\d+)'?"),
     lambda m, name: f"{name} ne peut pas être vide ou si court (« {m[1]} »)"),
    (re.compile(r"\[facet 'pattern'\] The value '(.*)' is not accepted by the pattern"),
     lambda m, name: f"« {m[1]} » n'a pas le format attendu pour {name}"),
    (re.compile(r"\[facet 'enumeration'\] The value '(.*)' is not an element of the set"),
     lambda m, name: f"« {m[1]} » n'est pas une valeur autorisée pour {name}"),
    (re.compile(r"\[facet '(?:totalDigits|fractionDigits|minExclusive|minInclusive|"
                r"maxInclusive|maxExclusive|length)'\] The value '(.*?)'"),
     lambda m, name: f"« {m[1]} » est hors des limites permises pour {name}"),
    (re.compile(r"This element is not expected\. Expected is(?: one of)? \( (.*) \)"),
     lambda m, name: f"l'élément {name} n'est pas attendu à cet endroit (attendu : "
                     f"{_strip_ns(m[1])})"),
    (re.compile(r"This element is not expected"),
     lambda m, name: f"l'élément {name} n'est pas attendu à cet endroit"),
    (re.compile(r"Missing child element\(s\)\. Expected is(?: one of)? \( (.*) \)"),
     lambda m, name: f"il manque dans {name} l'élément obligatoire {_strip_ns(m[1])}"),
    (re.compile(r"is not a valid value of the atomic type '[^']*'"),
     lambda m, name: f"la valeur de {name} n'a pas le bon type"),
    (re.compile(r"The attribute '([^']+)' is required but missing"),
     lambda m, name: f"l'attribut {m[1]} de {name} est obligatoire"),
)


def _strip_ns(names: str) -> str:
    return re.sub(r"\{[^}]*\}", "", names)


def french_schema_message(message: str) -> str:
    """A libxml2 schema error message in French (the original when no translation applies)."""
    match = _ELEMENT.match(message.strip())
    if match is None:
        return f"non conforme au schéma DGFiP : {message.strip()}"
    name = match[1] if match[2] in (None, "V") else f"{match[1]}/@{match[2]}"
    for pattern, render in _FACETS:
        found = pattern.search(match[3])
        if found is not None:
            return render(found, name)
    return f"{name} non conforme au schéma DGFiP : {match[3].strip()}"


def schema_problems(root: etree._Element) -> list[Problem]:
    """The DGFiP schemas' errors on a PES_Aller, located and in French."""
    errors = schemas.schema_errors(schemas.ALLER, root)
    if not errors:
        return []
    by_line: dict[int, list[etree._Element]] = {}
    for element in root.iter():
        if isinstance(element.tag, str) and element.sourceline is not None:
            by_line.setdefault(element.sourceline, []).append(element)
    problems = []
    for error in errors:
        match = _ELEMENT.match(error.message.strip())
        local = match[1] if match else None
        candidates = [e for e in by_line.get(error.line, ())
                      if local is None or etree.QName(e).localname == local]
        bordereau, mandat = _context(candidates[0]) if candidates else (None, None)
        problems.append(Problem(french_schema_message(error.message), bordereau, mandat))
    return problems


# --- Hélios pre-control ---------------------------------------------------------------------

@functools.lru_cache(maxsize=4096)
def iban_is_valid(iban: str) -> bool:
    """ISO 13616 check digits (mod 97 = 1)."""
    if not re.fullmatch(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}", iban):
        return False
    digits = "".join(str(int(c, 36)) for c in iban[4:] + iban[:4])
    return int(digits) % 97 == 1


@functools.lru_cache(maxsize=4096)
def siret_is_valid(siret: str) -> bool:
    """SIRET: 14 digits with a Luhn key (La Poste's establishments: digit sum multiple of 5)."""
    if not re.fullmatch(r"[0-9]{14}", siret):
        return False
    if siret.startswith("356000000"):
        return sum(int(c) for c in siret) % 5 == 0
    total = 0
    for index, char in enumerate(reversed(siret)):
        value = int(char) * (2 if index % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _pieces(bordereau: etree._Element) -> Iterator[tuple[etree._Element, str]]:
    for piece in bordereau.iterfind("Piece"):
        yield piece, _v(piece, "BlocPiece/InfoPce/IdPce") or "?"


def _line_problems(line: etree._Element, where: tuple[str, str]) -> Iterator[Problem]:
    info = line.find("BlocLignePiece/InfoLignePce")
    number = _v(info, "IdLigne") or "?"
    mode = _v(info, "ModRegl")
    tiers = line.find("Tiers")
    account = None if tiers is None else tiers.find("CpteBancaire")
    if mode in TRANSFER_MODES and account is None:
        yield Problem(f"ligne {number} : le mode de règlement {mode} (virement) exige le compte "
                      f"bancaire du tiers (CpteBancaire)", *where)
    if mode in NO_ACCOUNT_MODES and account is not None:
        yield Problem(f"ligne {number} : aucun compte bancaire ne doit accompagner le mode de "
                      f"règlement {mode}", *where)
    if account is not None:
        iban = _v(account, "IBAN")
        if iban is not None and not iban_is_valid(iban):
            yield Problem(f"ligne {number} : l'IBAN {iban} du tiers n'est pas valide (clé de "
                          f"contrôle)", *where)
    if tiers is not None:
        info_tiers = tiers.find("InfoTiers")
        category = _v(info_tiers, "CatTiers")
        person = category == "01"
        for tag, label in (("Civilite", "la civilité"), ("Prenom", "le prénom")):
            present = _v(info_tiers, tag) is not None
            if person and not present:
                yield Problem(f"ligne {number} : {label} du tiers est obligatoire pour une "
                              f"personne physique (CatTiers 01)", *where)
            if not person and present:
                yield Problem(f"ligne {number} : {label} du tiers n'est permis que pour une "
                              f"personne physique (CatTiers 01)", *where)
        id_tiers, kind = _v(info_tiers, "IdTiers"), _v(info_tiers, "NatIdTiers")
        if kind == "01" and id_tiers is not None and not siret_is_valid(id_tiers):
            yield Problem(f"ligne {number} : le SIRET {id_tiers} du tiers n'est pas valide",
                          *where)


def _pj_refs(piece: etree._Element) -> Iterator[str]:
    for ref in piece.iter("PJRef"):
        if _v(ref, "Support") == "01":
            yield _v(ref, "IdUnique") or ""


def precontrol_problems(root: etree._Element) -> list[Problem]:
    """Hélios's rejection rules of the schemas' annotations, on a schema-valid PES_Aller."""
    problems: list[Problem] = []
    depense = root.find("PES_DepenseAller")
    pj_ids = [_v(pj, "IdUnique") or "" for pj in root.iterfind("PES_PJ/PJ")]
    for pj_id, count in Counter(pj_ids).items():
        if count > 1:
            problems.append(Problem(f"la pièce jointe {pj_id} figure {count} fois dans PES_PJ"))
    known_pjs = set(pj_ids)
    referenced: set[str] = set()
    if depense is not None:
        version = _v(depense, "EnTeteDepense/IdVer")
        if version != "2":
            problems.append(Problem(f"la version du PES dépense (IdVer) doit être 2, pas "
                                    f"{version}"))
        dematerialised = (_v(depense, "EnTeteDepense/InfoDematerialisee") or "0") in {"1",
                                                                                      "true"}
        numbers: Counter[tuple[str | None, str | None, str | None]] = Counter()
        number: str | None
        for bordereau in depense.iterfind("Bordereau"):
            label = bordereau_label(bordereau)
            block = bordereau.find("BlocBordereau")
            typ_bord = _v(block, "TypBord")
            numbers[(_v(block, "Exer"), typ_bord, _v(block, "IdBord"))] += 1
            pieces = list(_pieces(bordereau))
            declared = _v(block, "NbrPce")
            if declared != str(len(pieces)):
                problems.append(Problem(f"NbrPce annonce {declared} pièce(s) mais le bordereau "
                                        f"en contient {len(pieces)}", label))
            signed = bordereau.find(DS_SIGNATURE) is not None
            if dematerialised and not signed:
                problems.append(Problem("InfoDematerialisee vaut 1 mais le bordereau n'est pas "
                                        "signé", label))
            if signed and not dematerialised:
                problems.append(Problem("le bordereau est signé mais InfoDematerialisee vaut 0 "
                                        "(Hélios rejette le flux)", label))
            if dematerialised and not bordereau.get("Id"):
                problems.append(Problem("un bordereau dématérialisé doit porter l'attribut Id "
                                        "que sa signature référence", label))
            cumulative = _decimal(_v(block, "MtCumulAnnuel"))
            if dematerialised and (cumulative is None or cumulative <= 0):
                problems.append(Problem("MtCumulAnnuel doit être présent et strictement positif "
                                        "pour un bordereau dématérialisé", label))
            total_ht = total_tva = Decimal("0")
            any_tva = False
            ids = Counter(number for _, number in pieces)
            for number, count in ids.items():
                if count > 1:
                    problems.append(Problem(f"le numéro de mandat {number} est donné {count} "
                                            f"fois", label, number))
            for piece, number in pieces:
                where = (label, number)
                info = piece.find("BlocPiece/InfoPce")
                triplet = (typ_bord or "", _v(info, "TypPce") or "", _v(info, "NatPce") or "")
                if triplet not in KNOWN_TRIPLETS:
                    problems.append(Problem(
                        f"le triplet TypBord/TypPce/NatPce {'/'.join(triplet)} n'est pas une "
                        f"combinaison connue d'Hélios", *where))
                line_numbers: Counter[str] = Counter()
                for line in piece.iterfind("LigneDePiece"):
                    line_info = line.find("BlocLignePiece/InfoLignePce")
                    line_numbers[_v(line_info, "IdLigne") or "?"] += 1
                    total_ht += _decimal(_v(line_info, "MtHT")) or Decimal("0")
                    tva = _decimal(_v(line_info, "MtTVA")) or Decimal("0")
                    total_tva += tva
                    any_tva = any_tva or tva > 0
                    problems.extend(_line_problems(line, where))
                for line_number, count in line_numbers.items():
                    if count > 1:
                        problems.append(Problem(f"la ligne {line_number} est donnée {count} fois",
                                                *where))
                for pj_id in _pj_refs(piece):
                    referenced.add(pj_id)
                    if pj_id not in known_pjs:
                        problems.append(Problem(f"la pièce jointe référencée {pj_id} (PJRef) "
                                                f"est absente de PES_PJ", *where))
            declared_ht = _decimal(_v(block, "MtBordHT"))
            if declared_ht != total_ht:
                problems.append(Problem(f"MtBordHT vaut {declared_ht} mais la somme des lignes "
                                        f"est {total_ht}", label))
            declared_tva = _decimal(_v(block, "MtBordTVA"))
            if (declared_tva or Decimal("0")) != total_tva:
                problems.append(Problem(f"MtBordTVA vaut {declared_tva or 0} mais la somme des "
                                        f"TVA des lignes est {total_tva}", label))
            elif declared_tva is not None and declared_tva > 0 and not any_tva:
                problems.append(Problem("MtBordTVA est servi sans aucune ligne de TVA", label))
        for (exercice, typ_bord, number), count in numbers.items():
            if count > 1:
                problems.append(Problem(f"le numéro de bordereau {number} (type {typ_bord}) est "
                                        f"donné {count} fois pour l'exercice {exercice}"))
    for pj_id in pj_ids:
        if pj_id not in referenced:
            problems.append(Problem(f"la pièce jointe {pj_id} de PES_PJ n'est référencée par "
                                    f"aucun mandat (PJRef)"))
    return problems


def check_aller(document: bytes) -> list[Problem]:
    """Every problem of a PES_Aller: the schemas' first, then (when valid) the pre-control's."""
    root = parse_pes(document)
    problems = schema_problems(root)
    if problems:
        return problems
    problems = precontrol_problems(root)
    for bordereau in root.iterfind("PES_DepenseAller/Bordereau"):
        if bordereau.find(DS_SIGNATURE) is not None and bordereau.get("Id"):
            check = check_bordereau_signature(document, bordereau.get("Id"))
            if not check.intact:
                problems.append(Problem(f"la signature du bordereau n'est pas intacte "
                                        f"({check.reason})", bordereau_label(bordereau)))
    return problems


def ensure_valid_aller(document: bytes) -> bytes:
    """`document` when Hélios would accept it; PesInvalid listing the problems otherwise."""
    problems = check_aller(document)
    if problems:
        raise PesInvalid(problems)
    return document
