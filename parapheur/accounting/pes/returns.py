"""What comes back from Hélios: the PES_ACQUIT (acknowledgement) and the spending PES_Retour.

Both are parsed safely, validated against the DGFiP schemas, and read into frozen values; a file
that is not what it claims gets a French error naming the problem.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from lxml import etree

from parapheur.accounting.pes import schemas
from parapheur.accounting.pes.validation import french_schema_message, parse_pes
from parapheur.errors import N_, ParapheurError

NS_ACQUIT = "http://www.minefi.gouv.fr/cp/helios/pes_v2/Rev0/retour/v2"
NS_RETOUR = "http://www.minefi.gouv.fr/cp/helios/pes_v2/Rev0/retour"

#: DomaineAck codes (CommunAck.xsd).
DOMAINS = {"0": "technique", "1": "signature technique", "2": "signature globale",
           "3": "signature du bordereau", "4": "pièce jointe", "5": "dépense", "6": "recette",
           "7": "rôle", "8": "budget", "9": "état actif", "10": "état passif", "11": "marché",
           "12": "facture", "99": "paramétrage"}
#: EtatPce codes of a spending return (CommunDepense_Retour.xsd).
PIECE_STATES = {"01": "En instance", "02": "Pris en charge", "04": "Rejeté", "05": "Soldé"}


class UnreadableReturn(ParapheurError):
    """The file is not a valid PES_ACQUIT / PES_Retour."""

    code = "pes-return-unreadable"


@dataclass(frozen=True)
class Anomaly:
    """An anomaly Hélios reports (NumAnoAck code and its label), optionally for a piece/line."""

    code: str | None
    label: str | None
    piece: str | None = None
    line: str | None = None

    def __str__(self) -> str:
        where = "".join([f"mandat {self.piece} " if self.piece else "",
                         f"ligne {self.line} " if self.line else ""])
        text = " — ".join(x for x in (self.code, self.label) if x) or "anomalie sans libellé"
        return f"{where}: {text}" if where else text


@dataclass(frozen=True)
class AcknowledgedElement:
    """One ElementACQUIT: a bordereau (NumBord/ExerciceBord) or an attachment (IdUnique)."""

    domain: str
    accepted: bool
    bordereau_number: int | None = None
    exercice: int | None = None
    attachment_id: str | None = None
    anomalies: tuple[Anomaly, ...] = ()

    @property
    def domain_label(self) -> str:
        """The domain in French (« dépense », « pièce jointe »…)."""
        return DOMAINS.get(self.domain, self.domain)


@dataclass(frozen=True)
class Acquit:
    """A PES_ACQUIT: the name of the acknowledged file and each element's verdict."""

    file_name: str
    id_coll: str
    cod_col: str
    cod_bud: str
    elements: tuple[AcknowledgedElement, ...]


@dataclass(frozen=True)
class Payment:
    """A PaiementEmargement of a line: date and amount paid."""

    paid_on: date
    amount: Decimal


def _payment(element: etree._Element) -> Payment:
    paid_on = _date(_v(element, "DtePay"))
    if paid_on is None:  # the schema requires DtePay; keep the type honest
        raise UnreadableReturn(N_("Un paiement du PES_Retour n'a pas de date (DtePay)."))
    return Payment(paid_on=paid_on, amount=Decimal(_v(element, "MtPay") or "0"))


@dataclass(frozen=True)
class ReturnedPiece:
    """A mandat's state as the comptable reports it."""

    exercice: int
    bordereau_number: int
    type_bordereau: str
    number: int
    state: str
    taken_on: date | None
    rejected_on: date | None
    observation: str | None
    comment: str | None
    payments: tuple[Payment, ...]

    @property
    def state_label(self) -> str:
        """The state in French (« Pris en charge », « Rejeté »…)."""
        return PIECE_STATES.get(self.state, self.state)


@dataclass(frozen=True)
class Retour:
    """A spending PES_Retour: the returned state of each mandat."""

    file_name: str
    id_coll: str
    cod_col: str
    cod_bud: str
    pieces: tuple[ReturnedPiece, ...]


def _v(element: etree._Element | None, path: str) -> str | None:
    if element is None:
        return None
    found = element.find(path)
    return None if found is None else found.get("V")


def _root(document: bytes, namespace: str, local: str, schema: str, kind: str
          ) -> etree._Element:
    try:
        root = parse_pes(document)
    except ParapheurError as exc:
        raise UnreadableReturn(N_("%(kind)s illisible : %(detail)s"),
                               kind=kind, detail=exc, status=exc.status) from None
    if root.tag != f"{{{namespace}}}{local}":
        raise UnreadableReturn(N_("Ce fichier n'est pas un %(kind)s (élément racine "
                                  "%(localname)s, attendu %(local)s)."),
                               kind=kind, localname=etree.QName(root).localname, local=local)
    errors = schemas.schema_errors(schema, root)
    if errors:
        details = "; ".join(f"ligne {e.line} : {french_schema_message(e.message)}"
                            for e in errors[:5])
        raise UnreadableReturn(N_("Le %(kind)s n'est pas conforme au schéma DGFiP : %(details)s"),
                               kind=kind, details=details)
    return root


def _anomalies(element: etree._Element, piece: str | None = None, line: str | None = None
               ) -> list[Anomaly]:
    return [Anomaly(_v(e, "NumAnoAck"), _v(e, "LibelleAnoAck"), piece, line)
            for e in element.iterfind("Erreur")]


def read_acquit(document: bytes) -> Acquit:
    """Read a PES_ACQUIT; UnreadableReturn when it is not one or not schema-valid."""
    root = _root(document, NS_ACQUIT, "PES_ACQUIT", schemas.ACQUIT, "PES_ACQUIT")
    elements = []
    for element in root.iterfind("ACQUIT/ElementACQUIT"):
        anomalies = _anomalies(element)
        for detail in element.iterfind("DetailPiece"):
            piece = _v(detail, "NumPiece")
            anomalies += _anomalies(detail, piece)
            for line in detail.iterfind("DetailLigne"):
                anomalies += _anomalies(line, piece, _v(line, "NumLigne"))
        number, exercice = _v(element, "NumBord"), _v(element, "ExerciceBord")
        elements.append(AcknowledgedElement(
            domain=_v(element, "DomaineAck") or "", accepted=_v(element, "EtatAck") in {"1",
                                                                                    "true"},
            bordereau_number=int(number) if number else None,
            exercice=int(exercice) if exercice else None,
            attachment_id=_v(element, "IdUnique"), anomalies=tuple(anomalies)))
    return Acquit(file_name=_v(root, "Enveloppe/Parametres/NomFic") or "",
                  id_coll=_v(root, "EnTetePES/IdColl") or "",
                  cod_col=_v(root, "EnTetePES/CodCol") or "",
                  cod_bud=_v(root, "EnTetePES/CodBud") or "", elements=tuple(elements))


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value[:10]) if value else None


def read_retour(document: bytes) -> Retour:
    """Read a spending PES_Retour; UnreadableReturn when it is not one or not schema-valid."""
    root = _root(document, NS_RETOUR, "PES_Retour", schemas.RETOUR, "PES_Retour")
    spending = root.find("PES_DepenseRetour")
    if spending is None:
        raise UnreadableReturn(N_("Ce PES_Retour ne contient pas de retour de dépense "
                                  "(PES_DepenseRetour) : rien à lire pour les mandats."))
    pieces = []
    for bordereau in spending.iterfind("Bordereau"):
        block = bordereau.find("BlocBordereau")
        for piece in bordereau.iterfind("Piece"):
            info = piece.find("InfoPiece")
            payments = tuple(_payment(p)
                             for p in piece.iterfind("LigneDePiece/PaiementEmargement"))
            pieces.append(ReturnedPiece(
                exercice=int(_v(block, "Exer") or 0), bordereau_number=int(_v(block, "IdBord") or 0),
                type_bordereau=_v(block, "TypBord") or "", number=int(_v(info, "IdPce") or 0),
                state=_v(info, "EtatPce") or "", taken_on=_date(_v(info, "DtePcePec")),
                rejected_on=_date(_v(info, "DtePceRej")), observation=_v(info, "ObsEtat"),
                comment=_v(info, "Commentaire"), payments=payments))
    return Retour(file_name=_v(root, "Enveloppe/Parametres/NomFic") or "",
                  id_coll=_v(root, "EnTetePES/IdColl") or "",
                  cod_col=_v(root, "EnTetePES/CodColl") or "",
                  cod_bud=_v(root, "EnTetePES/CodBud") or "", pieces=tuple(pieces))
