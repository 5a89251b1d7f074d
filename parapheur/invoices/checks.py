"""Checking a read invoice: XSD, EN 16931 and French schematrons, arithmetic, identifiers, buyer.

Each problem has a rule id and a sentence in plain French. No database here: duplicates are
checked by the services, which know the invoices already received.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from stdnum import iban as std_iban
from stdnum.fr import siren as std_siren
from stdnum.fr import siret as std_siret
from stdnum.fr import tva as std_tva

from parapheur.invoices.reading import ReadInvoice
from parapheur.invoices.schematron import run_schematrons, xsd_errors

ERROR = "erreur"
WARNING = "alerte"
CENT = Decimal("0.01")
THIN_SPACE = "\u202f"


@dataclass(frozen=True)
class Problem:
    """One problem found on an invoice."""

    source: str  # lecture, xsd, schematron, calcul, identifiant, destinataire, doublon
    rule_id: str
    severity: str  # erreur | alerte
    message: str
    location: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        """A stable JSON form."""
        return {"source": self.source, "rule_id": self.rule_id, "severity": self.severity,
                "message": self.message, "location": self.location}


def euros(value: Decimal | None) -> str:
    """An amount written the French way (1 234,50 €)."""
    if value is None:
        return "—"
    quantized = value.quantize(CENT, rounding=ROUND_HALF_UP)
    sign = "-" if quantized < 0 else ""
    whole, _, cents = f"{abs(quantized):.2f}".partition(".")
    groups: list[str] = []
    while whole:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    return f"{sign}{THIN_SPACE.join(groups)},{cents} €"


def round_amount(value: Decimal) -> Decimal:
    """EN 16931 rounding of an amount: two decimals, half away from zero."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


# ---------------------------------------------------------------------------------------------
# Arithmetic (EN 16931 BR-CO rules, with the amounts in the message)

def arithmetic_problems(invoice: ReadInvoice) -> list[Problem]:
    """Line nets vs totals, VAT per rate, TTC = HT + TVA, due = TTC − prepaid (+ rounding)."""
    problems: list[Problem] = []
    t = invoice.totals

    def wrong(rule: str, message: str) -> None:
        problems.append(Problem("calcul", rule, ERROR, message))

    nets = [line.net_amount for line in invoice.lines if line.net_amount is not None]
    if invoice.lines and len(nets) == len(invoice.lines) and t.lines is not None:
        total = sum(nets, Decimal(0))
        if total != t.lines:
            wrong("BR-CO-10", f"La somme des montants nets des lignes ({euros(total)}) ne "
                              f"correspond pas au total des lignes de la facture "
                              f"({euros(t.lines)}).")
    if t.lines is not None and t.net is not None:
        expected = t.lines - (t.allowances or 0) + (t.charges or 0)
        if expected != t.net:
            wrong("BR-CO-13", f"Le total HT ({euros(t.net)}) devrait être le total des lignes "
                              f"{euros(t.lines)} − remises {euros(t.allowances or Decimal(0))} "
                              f"+ frais {euros(t.charges or Decimal(0))} = {euros(expected)}.")
    if invoice.vat_breakdown and t.vat is not None:
        rows_vat = [row.tax_amount for row in invoice.vat_breakdown if row.tax_amount is not None]
        if len(rows_vat) == len(invoice.vat_breakdown):
            total = sum(rows_vat, Decimal(0))
            if total != t.vat:
                wrong("BR-CO-14", f"Le total de TVA ({euros(t.vat)}) ne correspond pas à la "
                                  f"somme de la TVA par taux ({euros(total)}).")
    for row in invoice.vat_breakdown:
        if row.rate is None or row.taxable_amount is None or row.tax_amount is None:
            continue
        expected = round_amount(row.taxable_amount * row.rate / 100)
        if abs(expected - row.tax_amount) > CENT:
            wrong("BR-CO-17", f"TVA à {_rate(row.rate)} (catégorie {row.category}) : "
                              f"{euros(row.taxable_amount)} × {_rate(row.rate)} = "
                              f"{euros(expected)}, la facture indique {euros(row.tax_amount)}.")
    if invoice.lines and invoice.vat_breakdown and not t.allowances and not t.charges:
        by_rate: dict[tuple[str | None, Decimal], Decimal] = defaultdict(Decimal)
        for line in invoice.lines:
            if line.net_amount is not None and line.vat_rate is not None:
                by_rate[(line.vat_category, line.vat_rate)] += line.net_amount
        for row in invoice.vat_breakdown:
            if row.rate is None or row.taxable_amount is None:
                continue
            base = by_rate.get((row.category, row.rate))
            if base is not None and base != row.taxable_amount:
                wrong("BR-S-08" if row.category == "S" else "CALC-BASE-TVA",
                      f"Base de TVA à {_rate(row.rate)} : les lignes à ce taux totalisent "
                      f"{euros(base)}, la facture indique {euros(row.taxable_amount)}.")
    if t.net is not None and t.gross is not None:
        expected = t.net + (t.vat or 0)
        if expected != t.gross:
            wrong("BR-CO-15", f"Le total TTC ({euros(t.gross)}) devrait être le total HT "
                              f"{euros(t.net)} + la TVA {euros(t.vat or Decimal(0))} = "
                              f"{euros(expected)}.")
    if t.gross is not None and t.due is not None:
        expected = t.gross - (t.prepaid or 0) + (t.rounding or 0)
        if expected != t.due:
            wrong("BR-CO-16", f"Le montant à payer ({euros(t.due)}) devrait être le TTC "
                              f"{euros(t.gross)} − déjà payé {euros(t.prepaid or Decimal(0))} "
                              f"= {euros(expected)}.")
    for line in invoice.lines:
        if line.quantity is None or line.unit_price is None or line.net_amount is None:
            continue
        expected = round_amount(line.quantity * line.unit_price)
        if abs(expected - line.net_amount) > CENT and not _has_line_adjustments(invoice, line):
            problems.append(Problem(
                "calcul", "CALC-LIGNE", WARNING,
                f"Ligne {line.line_id} : {_number(line.quantity)} × {euros(line.unit_price)} = "
                f"{euros(expected)}, la ligne indique {euros(line.net_amount)} (remise ou "
                f"frais de ligne ?)."))
    return problems


def _has_line_adjustments(invoice: ReadInvoice, line) -> bool:
    """Whether the line carries allowances or charges (BG-27/BG-28) in the XML."""
    root = invoice.tree
    if root is None or line.line_id is None:
        return False
    if invoice.syntax == "cii":
        path = ("//ram:IncludedSupplyChainTradeLineItem[ram:AssociatedDocumentLineDocument/"
                "ram:LineID=$id]/ram:SpecifiedLineTradeSettlement/"
                "ram:SpecifiedTradeAllowanceCharge")
        from parapheur.invoices.reading import CII_NS as ns
    else:
        path = "//cac:InvoiceLine[cbc:ID=$id]/cac:AllowanceCharge | " \
               "//cac:CreditNoteLine[cbc:ID=$id]/cac:AllowanceCharge"
        from parapheur.invoices.reading import UBL_NS as ns
    return bool(root.xpath(path, namespaces=ns, id=line.line_id))


def _rate(rate: Decimal) -> str:
    return f"{_number(rate)} %"


def _number(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text.replace(".", ",")


# ---------------------------------------------------------------------------------------------
# Identifiers (python-stdnum) and their coherence

def identifier_problems(invoice: ReadInvoice) -> list[Problem]:
    """SIREN/SIRET Luhn keys, IBAN, French VAT number, and their coherence (seller and buyer)."""
    problems: list[Problem] = []

    def bad(rule: str, message: str, severity: str = ERROR) -> None:
        problems.append(Problem("identifiant", rule, severity, message))

    for who, party in (("vendeur", invoice.seller), ("acheteur", invoice.buyer)):
        of = "du vendeur" if who == "vendeur" else "de l'acheteur"
        if party.siren and not std_siren.is_valid(party.siren):
            bad("ID-SIREN", f"Le SIREN {of} « {party.siren} » est invalide (9 chiffres "
                            f"et clé de Luhn).")
        if party.siret and not std_siret.is_valid(party.siret):
            bad("ID-SIRET", f"Le SIRET {of} « {party.siret} » est invalide (14 chiffres "
                            f"et clé de Luhn).")
        if party.siren and party.siret and not party.siret.startswith(party.siren):
            bad("ID-SIRET-SIREN", f"Le SIRET {of} « {party.siret} » n'appartient pas à son "
                                  f"SIREN « {party.siren} » (il doit commencer par lui).")
        vat = "".join((party.vat_id or "").split()).upper()
        if vat.startswith("FR"):
            if not std_tva.is_valid(vat):
                bad("ID-TVA", f"Le numéro de TVA {of} « {party.vat_id} » est invalide "
                              f"(clé de contrôle).")
            else:
                siren = party.siren or (party.siret[:9] if party.siret else None)
                if siren and vat[4:] != siren:
                    bad("ID-TVA-SIREN", f"Le numéro de TVA {of} « {party.vat_id} » ne "
                                        f"correspond pas à son SIREN « {siren} ».")
    if invoice.seller.iban and not std_iban.is_valid(invoice.seller.iban):
        bad("ID-IBAN", f"L'IBAN du vendeur « {std_iban.format(invoice.seller.iban)} » est "
                       f"invalide (clé de contrôle) : le paiement échouerait.")
    return problems


def buyer_problems(invoice: ReadInvoice, buyer_siret: str | None,
                   buyer_name: str | None = None) -> list[Problem]:
    """The invoice is addressed to this collectivité (its SIRET), else « mal adressée »."""
    if not buyer_siret:
        return []
    ours = f"{buyer_name} (SIRET {buyer_siret})" if buyer_name else f"SIRET {buyer_siret}"
    b = invoice.buyer
    if b.siret:
        if b.siret == buyer_siret:
            return []
        theirs = f"SIRET {b.siret}"
    elif b.siren:
        if b.siren == buyer_siret[:9]:
            return []
        theirs = f"SIREN {b.siren}"
    else:
        theirs = "sans SIRET ni SIREN"
    return [Problem("destinataire", "MAL-ADRESSEE", ERROR,
                    f"Facture mal adressée : l'acheteur est « {b.name or 'inconnu'} » "
                    f"({theirs}), pas {ours}. À renvoyer au fournisseur.")]


# ---------------------------------------------------------------------------------------------
# XSD and schematrons

def xsd_problems(invoice: ReadInvoice, limit: int = 10) -> list[Problem]:
    """XSD validity of the invoice's XML against its profile's schema."""
    assert invoice.tree is not None
    errors = xsd_errors(invoice.tree, invoice.syntax, invoice.profile)
    problems = [Problem("xsd", "XSD", ERROR,
                        f"Le XML n'est pas conforme au schéma XSD {invoice.profile_label} "
                        f"(ligne {line}) : {message}")
                for line, message in errors[:limit]]
    if len(errors) > limit:
        problems.append(Problem("xsd", "XSD", ERROR,
                                f"… et {len(errors) - limit} autres erreurs de schéma."))
    return problems


def schematron_problems(invoice: ReadInvoice, skip_rules: frozenset[str] | set[str] = frozenset()
                        ) -> list[Problem]:
    """EN 16931 (BR-, BR-CO-) and French (BR-FR-) rules, each with its id and French text."""
    problems = []
    for failure in run_schematrons(invoice.xml, invoice.syntax, invoice.profile):
        base_rule = failure.rule_id.split("_")[0]
        if base_rule in skip_rules:
            continue
        severity = ERROR if failure.flag in ("fatal", "error") else WARNING
        problems.append(Problem("schematron", failure.rule_id, severity,
                                french_rule_message(failure.rule_id, failure.text),
                                failure.location or None))
    return problems


def french_rule_message(rule_id: str, text: str) -> str:
    """The French sentence for a schematron rule (BR-FR rules already speak French)."""
    base = rule_id.split("_")[0]
    if base.startswith("BR-FR"):
        return text
    sentence = RULES_FR.get(base)
    if sentence:
        return f"{base} : {sentence}"
    english = text.split("]-", 1)[-1].strip() if text.startswith("[") else text
    return f"{base} : règle de la norme EN 16931 non respectée (texte de la norme : « {english} »)."


RULES_FR = {
    "BR-01": "l'identifiant de spécification (BT-24) est obligatoire.",
    "BR-02": "le numéro de facture (BT-1) est obligatoire.",
    "BR-03": "la date de facture (BT-2) est obligatoire.",
    "BR-04": "le type de facture (BT-3) est obligatoire.",
    "BR-05": "la devise de la facture (BT-5) est obligatoire.",
    "BR-06": "le nom du vendeur (BT-27) est obligatoire.",
    "BR-07": "le nom de l'acheteur (BT-44) est obligatoire.",
    "BR-08": "l'adresse postale du vendeur (BG-5) est obligatoire.",
    "BR-09": "le pays du vendeur (BT-40) est obligatoire.",
    "BR-10": "l'adresse postale de l'acheteur (BG-8) est obligatoire.",
    "BR-11": "le pays de l'acheteur (BT-55) est obligatoire.",
    "BR-12": "le total des lignes (BT-106) est obligatoire.",
    "BR-13": "le total HT (BT-109) est obligatoire.",
    "BR-14": "le total TTC (BT-112) est obligatoire.",
    "BR-15": "le montant à payer (BT-115) est obligatoire.",
    "BR-16": "la facture doit avoir au moins une ligne (BG-25).",
    "BR-21": "chaque ligne doit avoir un identifiant (BT-126).",
    "BR-22": "chaque ligne doit avoir une quantité facturée (BT-129).",
    "BR-23": "chaque ligne doit avoir une unité de quantité (BT-130).",
    "BR-24": "chaque ligne doit avoir un montant net (BT-131).",
    "BR-25": "chaque ligne doit avoir un nom d'article (BT-153).",
    "BR-26": "chaque ligne doit avoir un prix net unitaire (BT-146).",
    "BR-27": "le prix net unitaire (BT-146) ne peut pas être négatif.",
    "BR-45": "chaque ventilation de TVA (BG-23) doit avoir une base imposable (BT-116).",
    "BR-46": "chaque ventilation de TVA (BG-23) doit avoir un montant de TVA (BT-117).",
    "BR-47": "chaque ventilation de TVA (BG-23) doit avoir une catégorie (BT-118).",
    "BR-48": "chaque ventilation de TVA (BG-23) doit avoir un taux (BT-119), sauf "
             "facture non soumise à TVA.",
    "BR-CO-03": "la date d'exigibilité de la TVA (BT-7) et son code (BT-8) s'excluent.",
    "BR-CO-09": "le numéro de TVA doit commencer par le code ISO du pays.",
    "BR-CO-10": "la somme des montants nets des lignes doit égaler le total des lignes (BT-106).",
    "BR-CO-11": "la somme des remises au niveau du document doit égaler BT-107.",
    "BR-CO-12": "la somme des frais au niveau du document doit égaler BT-108.",
    "BR-CO-13": "le total HT (BT-109) doit égaler total des lignes − remises + frais.",
    "BR-CO-14": "le total de TVA (BT-110) doit égaler la somme des montants de TVA par taux.",
    "BR-CO-15": "le total TTC (BT-112) doit égaler le total HT (BT-109) + la TVA (BT-110).",
    "BR-CO-16": "le montant à payer (BT-115) doit égaler TTC − déjà payé + arrondi.",
    "BR-CO-17": "la TVA d'un taux (BT-117) doit égaler base × taux, arrondie au centime.",
    "BR-CO-18": "la facture doit avoir au moins une ventilation de TVA (BG-23).",
    "BR-CO-25": "un montant à payer positif exige une date d'échéance (BT-9) ou des "
                "conditions de paiement (BT-20).",
    "BR-S-01": "une facture avec des lignes au taux normal (catégorie S) doit avoir une "
               "ventilation de TVA de catégorie S.",
    "BR-S-08": "la base de TVA d'un taux (catégorie S) doit égaler la somme des lignes, "
               "remises et frais à ce taux.",
    "BR-S-09": "la TVA d'un taux (catégorie S) doit égaler base × taux.",
}


# ---------------------------------------------------------------------------------------------

def check_invoice(invoice: ReadInvoice, *, buyer_siret: str | None = None,
                  buyer_name: str | None = None, schematrons: bool = True) -> list[Problem]:
    """Every check on a read invoice, in the order an agent reads them."""
    problems = xsd_problems(invoice)
    arithmetic = arithmetic_problems(invoice)
    problems += arithmetic
    if schematrons:
        # The arithmetic checks say the same rules with the amounts: keep theirs only.
        problems += schematron_problems(invoice, {p.rule_id for p in arithmetic})
    problems += identifier_problems(invoice)
    problems += buyer_problems(invoice, buyer_siret, buyer_name)
    return problems
