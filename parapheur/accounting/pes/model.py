"""Typed content of a spending PES_Aller: what the builder writes, independent of the database.

Names follow the DGFiP elements they become (IdBord, IdPce, TypPce…) in the docstrings; amounts are
`Decimal` euros with two decimals at most.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal


@dataclass(frozen=True)
class Emitter:
    """Enveloppe/Emetteur: the software (or service) that sends the file."""

    sigle: str = "PARAPHEUR"
    adresse: str = "Parapheur"


@dataclass(frozen=True)
class Budget:
    """EnTetePES: the collectivité's budget as Hélios knows it."""

    #: IdPost — codique of the comptable's poste (6 or 7 characters)
    id_post: str
    #: IdColl — the collectivité's SIRET
    id_coll: str
    #: CodCol — collectivité code (3 digits)
    cod_col: str
    #: CodBud — budget code (2 characters)
    cod_bud: str
    #: LibelleColBud — label of the collectivité and budget
    libelle: str


@dataclass(frozen=True)
class BankAccount:
    """CpteBancaire in its IBAN form (BIC, IBAN, TitCpte)."""

    iban: str
    holder: str
    bic: str | None = None
    bank_name: str | None = None


@dataclass(frozen=True)
class Address:
    """Adresse of a tiers (TypAdr 1: main address)."""

    street: str
    postal_code: str
    city: str
    complement: str | None = None
    #: CodRes — 0 resident in France, 1 abroad
    abroad: bool = False


@dataclass(frozen=True)
class Tiers:
    """The creditor of a line (InfoTiers, Adresse, CpteBancaire)."""

    name: str
    #: CatTiers — 01 personne physique, 60 personne morale de droit privé…
    category: str = "60"
    #: NatJur — 01 particulier, 03 société, 06 association…
    legal_nature: str = "03"
    #: IdTiers with NatIdTiers 01 (SIRET), when known
    siret: str | None = None
    #: RefTiers — the ordonnateur's own reference of the supplier
    reference: str | None = None
    civility: str | None = None
    first_name: str | None = None
    address: Address | None = None
    bank_account: BankAccount | None = None


@dataclass(frozen=True)
class Line:
    """LigneDePiece: one imputation of a mandat and its creditor."""

    #: IdLigne (≥ 1)
    number: int
    #: Nature — M57 account by nature (e.g. 6068)
    nature: str
    #: MtHT — amount excluding tax (TTC when there is no VAT line)
    amount_ht: Decimal
    tiers: Tiers
    #: Fonction — M57 function (e.g. 020)
    fonction: str | None = None
    #: Operation — équipement operation number
    operation: str | None = None
    #: Facture — the invoice number
    invoice_number: str | None = None
    #: LibVir1 — label shown to the creditor on the transfer
    transfer_label: str | None = None
    #: ModRegl — 01 numéraire, 02 chèque, 03 virement, 05 virement gros montant…
    payment_mode: str = "03"
    #: MtTVA
    amount_tva: Decimal | None = None
    #: IdUnique of the attachments of this line (PJRef, electronic support)
    attachment_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Piece:
    """Piece: a mandat (IdPce) with its lines."""

    #: IdPce — mandat number within the bordereau's exercice
    number: int
    lines: tuple[Line, ...]
    #: TypPce — 01 mandat ordinaire
    type_piece: str = "01"
    #: NatPce — 01 fonctionnement, 02 investissement…
    nature_piece: str = "01"
    #: Obj — object of the mandat
    object: str | None = None
    #: DteEch — date the ordonnateur wants the payment on
    due_date: date | None = None
    #: IdUnique of the attachments of the mandat (PJRef, electronic support)
    attachment_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Bordereau:
    """Bordereau: a numbered batch of mandats of one exercice and type."""

    #: IdBord — sequential per exercice and type for the budget
    number: int
    #: Exer
    exercice: int
    #: DteBordEm
    issued_on: date
    pieces: tuple[Piece, ...]
    #: TypBord — 01 ordinaire, 02 annulation/réduction, 03 ordres de paiement
    type_bordereau: str = "01"
    #: MtCumulAnnuel — cumulative amount of the exercice's bordereaux including this one
    cumulative_amount: Decimal | None = None

    @property
    def xml_id(self) -> str:
        """The `Id` attribute the signature refers to (unique in a file)."""
        return f"BORD-{self.exercice}-{self.type_bordereau}-{self.number}"

    @property
    def amount_ht(self) -> Decimal:
        """MtBordHT: the sum of the lines' MtHT."""
        return sum((line.amount_ht for p in self.pieces for line in p.lines), Decimal("0"))

    @property
    def amount_tva(self) -> Decimal:
        """MtBordTVA: the sum of the lines' MtTVA."""
        return sum((line.amount_tva or Decimal("0") for p in self.pieces for line in p.lines),
                   Decimal("0"))


@dataclass(frozen=True)
class Attachment:
    """A PJ of PES_PJ: the file itself (gzip then base64 in the file)."""

    #: IdUnique — letters and digits, 50 at most, unique for the comptable
    id_unique: str
    #: NomPJ — file name with its extension
    filename: str
    content: bytes = field(repr=False)
    mime_type: str = "application/pdf"
    description: str = "Facture"


@dataclass(frozen=True)
class PesAller:
    """A whole spending PES_Aller: header, bordereaux and their attachments."""

    #: NomFic — the file's name, unique per emitter
    name: str
    budget: Budget
    created_on: date
    bordereaux: tuple[Bordereau, ...]
    attachments: tuple[Attachment, ...] = ()
    emitter: Emitter = field(default_factory=Emitter)
    #: InfoDematerialisee — 1 when the bordereaux are (to be) signed
    dematerialised: bool = True
