"""Marshmallow schemas of the API: what it reads and what it answers (and the OpenAPI document)."""

from __future__ import annotations

import json

import marshmallow as ma
from flask_smorest.fields import Upload
from marshmallow import fields, validate

from parapheur.documents.models import DocumentStatus
from parapheur.fields import MAX_ID

Str = fields.String
Int = fields.Integer


class ProblemSchema(ma.Schema):
    """An error (RFC 9457): `code` is stable for programs, `detail` is French for people."""

    type = Str(required=True)
    title = Str(required=True)
    status = Int(required=True)
    detail = Str(required=True)
    code = Str(required=True)
    errors = fields.Raw()
    field = Str()


class JsonObject(fields.Field):
    """A JSON object sent as text in a multipart field."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, dict):
            return value
        try:
            parsed = json.loads(value) if isinstance(value, str) and len(value) <= 100_000 \
                else None
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            raise ma.ValidationError("Objet JSON attendu (texte d'au plus 100 000 caractères).")
        return parsed


def _id(**kwargs):
    return Int(validate=validate.Range(min=1, max=MAX_ID), **kwargs)


class NoNul(validate.Validator):
    """No NUL character (PostgreSQL cannot store it)."""

    def __call__(self, value):
        if isinstance(value, str) and "\x00" in value:
            raise ma.ValidationError("Caractère nul interdit.")
        return value


def _text(max_length: int, *, required: bool = False, **kwargs):
    return Str(required=required, validate=[validate.Length(max=max_length), NoNul()], **kwargs)


# --- Documents ---

class VersionSchema(ma.Schema):
    number = Int(required=True)
    kind = Str(required=True, attribute="kind.value")
    filename = Str(required=True)
    sha256 = Str(required=True)
    size = Int(required=True)
    page_count = Int(required=True)
    created_at = fields.DateTime(required=True)


class PendingStepSchema(ma.Schema):
    step = Str(required=True)
    action = Str(required=True)
    desks = fields.List(Str(), required=True)
    due = fields.DateTime(allow_none=True)


class AnnexSchema(ma.Schema):
    id = Int(required=True)
    position = Int(required=True)
    filename = Str(required=True)
    media_type = Str(required=True)
    sha256 = Str(required=True, metadata={"description": "SHA-256 du fichier déposé"})
    size = Int(required=True)
    page_count = Int(allow_none=True, metadata={"description": "Annexes PDF seulement"})
    signed_sha256 = Str(allow_none=True,
                        metadata={"description": "SHA-256 de l'annexe signée, si elle l'est"})
    created_at = fields.DateTime(required=True)


class DocumentSchema(ma.Schema):
    id = Int(required=True)
    title = Str(required=True)
    doc_type = Str(required=True)
    doc_subtype = Str(required=True)
    status = Str(required=True, metadata={"enum": [s.value for s in DocumentStatus]})
    metadata = fields.Dict(required=True)
    author = Str(required=True)
    circuit = Str(required=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)
    due_at = fields.DateTime(allow_none=True)
    pending = fields.List(fields.Nested(PendingStepSchema), required=True)
    versions = fields.List(fields.Nested(VersionSchema), required=True)
    annexes = fields.List(fields.Nested(AnnexSchema), required=True)


class DocumentPageSchema(ma.Schema):
    items = fields.List(fields.Nested(DocumentSchema), required=True)
    next_after = Int(allow_none=True, required=True,
                     metadata={"description": "À passer dans `after` pour la page suivante."})


class DocumentQuerySchema(ma.Schema):
    q = _text(200, metadata={"description": "Mots du titre"})
    status = Str(validate=validate.OneOf([s.value for s in DocumentStatus]))
    type = _text(100)
    tray = Str(validate=validate.OneOf(["a_traiter", "en_retard", "mes_depots", "traites"]),
               metadata={"description": "Les bannettes de l'accueil : `a_traiter` (ce qui "
                                        "attend l'un de vos bureaux), `en_retard` (les mêmes, "
                                        "échéance passée), `mes_depots` (vos dépôts), "
                                        "`traites` (ce sur quoi vous avez agi)"})
    author = _id(metadata={"description": "Déposé par (identifiant du compte)"})
    amount_min = _text(40, metadata={"description": "Montant TTC minimum (« 1200,50 »)"})
    amount_max = _text(40, metadata={"description": "Montant TTC maximum"})
    deposited_from = fields.Date(
        metadata={"description": "Déposé à partir du (AAAA-MM-JJ, heure de Paris)"})
    deposited_to = fields.Date(metadata={"description": "Déposé jusqu'au (inclus)"})
    after = _id(metadata={"description": "Curseur : l'identifiant du dernier document reçu"})
    limit = Int(strict=False, load_default=50, validate=validate.Range(min=1, max=200))


class DocumentCreateSchema(ma.Schema):
    title = _text(300, required=True)
    typology = Str(required=True, validate=[validate.Length(min=3, max=201), NoNul()],
                   metadata={"description": "TYPE/SOUS-TYPE, par exemple ACTES/DELIBERATION"})
    metadata = JsonObject(load_default=dict,
                          metadata={"description": "Champs du circuit (objet JSON)",
                                    "type": "string"})
    author_desk = _text(80)
    file = Upload(required=True, metadata={"description": "Le PDF principal"})
    annexes = fields.List(Upload(), load_default=list,
                          metadata={"description": "Annexes (PDF, bureautique, images, texte ; "
                                                   "20 au plus), champ répété"})


class AnnexFileQuerySchema(ma.Schema):
    signed = fields.Boolean(load_default=False,
                            metadata={"description": "L'annexe telle que signée"})


# --- Circuit actions ---

class RejectSchema(ma.Schema):
    reason = _text(2000, required=True)


class SignSchema(ma.Schema):
    passphrase = Str(required=True, load_only=True,
                     validate=[validate.Length(min=1, max=500), NoNul()],
                     metadata={"description": "Le code du certificat, utilisé une fois, jamais "
                                              "gardé"})


class ActionResultSchema(ma.Schema):
    document = fields.Nested(DocumentSchema, required=True)
    decision = Str(required=True)
    step = Str(required=True)


# --- Invoices ---

class InvoiceStatusSchema(ma.Schema):
    status = Str(required=True)
    label = Str(required=True)
    reason = Str(allow_none=True)
    changed_at = fields.DateTime(required=True)


class InvoiceSchema(ma.Schema):
    id = Int(required=True)
    number = Str(allow_none=True)
    filename = Str(required=True)
    status = Str(required=True)
    status_label = Str(required=True)
    seller_name = Str(allow_none=True)
    seller_siren = Str(allow_none=True)
    issue_date = fields.Date(allow_none=True)
    due_date = fields.Date(allow_none=True)
    currency = Str(allow_none=True)
    total_net = Str(allow_none=True)
    total_vat = Str(allow_none=True)
    total_gross = Str(allow_none=True)
    amount_due = Str(allow_none=True)
    blocked = fields.Boolean(required=True)
    document_id = Int(allow_none=True)
    received_at = fields.DateTime(required=True)
    problems = fields.List(fields.Dict(), required=True)


class InvoiceImportSchema(ma.Schema):
    file = Upload(required=True, metadata={"description": "Factur-X (PDF), UBL ou CII (XML)"})


class InvoiceImportResultSchema(ma.Schema):
    invoice = fields.Nested(InvoiceSchema, required=True)
    routed = fields.Boolean(required=True)
    summary = Str(required=True)


# --- Delegations, users, desks ---

class DelegationSchema(ma.Schema):
    id = Int(required=True)
    from_desk = Str(required=True, attribute="from_desk.slug")
    to_desk = Str(required=True, attribute="to_desk.slug")
    starts_at = fields.DateTime(required=True)
    ends_at = fields.DateTime(required=True)
    document_types = fields.List(Str(), allow_none=True)


class DelegationCreateSchema(ma.Schema):
    from_desk = _text(80, required=True)
    to_desk = _text(80, required=True)
    first_day = fields.Date(required=True)
    last_day = fields.Date(required=True)
    document_types = fields.List(_text(100), validate=validate.Length(max=50))


class DeskSchema(ma.Schema):
    id = Int(required=True)
    slug = Str(required=True)
    name = Str(required=True)
    quality = Str(allow_none=True)
    members = fields.List(Str(), required=True)


class DeskCreateSchema(ma.Schema):
    slug = Str(required=True, validate=[validate.Regexp(r"^[a-z0-9][a-z0-9-]{0,79}$",
                                                         error="Lettres minuscules, chiffres et "
                                                               "tirets (80 au plus).")])
    name = _text(200, required=True)
    quality = _text(200)
    members = fields.List(_text(80), validate=validate.Length(max=200))


class UserSchema(ma.Schema):
    id = Int(required=True)
    username = Str(required=True)
    full_name = Str(required=True)
    email = Str(allow_none=True)
    title = Str(allow_none=True)
    role = Str(required=True, attribute="role.value")
    active = fields.Boolean(required=True)
    desks = fields.List(Str(), required=True)


class UserCreateSchema(ma.Schema):
    username = Str(required=True, validate=[validate.Regexp(r"^[a-z0-9][a-z0-9._-]{0,79}$",
                                                             error="Lettres minuscules, chiffres, "
                                                                   "points et tirets.")])
    full_name = _text(200, required=True)
    role = Str(required=True, validate=validate.OneOf(
        ["administrateur", "agent", "signataire", "auditeur"]))
    password = Str(required=True, load_only=True, validate=[validate.Length(min=1, max=500),
                                                             NoNul()])
    title = _text(200)
    email = _text(200)
    desks = fields.List(_text(80), validate=validate.Length(max=50))


# --- Webhooks ---

class SubscriptionSchema(ma.Schema):
    id = Int(required=True)
    url = Str(required=True)
    description = Str(allow_none=True)
    events = fields.List(Str(), required=True)
    active = fields.Boolean(required=True)
    disabled_reason = Str(allow_none=True)
    created_at = fields.DateTime(required=True)
    secret = Str(metadata={"description": "Clé HMAC, rendue à la création seulement"})


class SubscriptionCreateSchema(ma.Schema):
    url = Str(required=True, validate=[validate.Length(min=8, max=2000), NoNul()])
    description = _text(200)
    events = fields.List(Str(validate=validate.Length(max=60)), required=True,
                         validate=validate.Length(min=1, max=20))


class DeliverySchema(ma.Schema):
    id = Int(required=True)
    event_id = Str(required=True)
    event = Str(required=True)
    status = Str(required=True, metadata={"enum": ["en_attente", "livre", "echec"]})
    attempts = Int(required=True)
    last_status_code = Int(allow_none=True)
    last_error = Str(allow_none=True)
    created_at = fields.DateTime(required=True)
    delivered_at = fields.DateTime(allow_none=True)


# --- Accounting exports ---

EXPORT_STATUSES = ["pending", "deposited", "failed"]


class ExportBordereauSchema(ma.Schema):
    id = Int(required=True)
    label = Str(required=True)
    exercice = Int(required=True)
    number = Int(required=True)
    state = Str(required=True)
    amount_ht = Str(required=True)
    amount_tva = Str(required=True)
    document_id = Int(allow_none=True)


class ExportSchema(ma.Schema):
    id = Int(required=True)
    number = Int(required=True)
    filename = Str(required=True)
    sha256 = Str(required=True)
    size = Int(required=True)
    cod_col = Str(required=True)
    cod_bud = Str(required=True)
    status = Str(required=True, metadata={"enum": EXPORT_STATUSES})
    error = Str(allow_none=True, metadata={"description": "Pourquoi la remise a échoué"})
    created_at = fields.DateTime(required=True)
    deposited_at = fields.DateTime(allow_none=True)
    deposited_to = Str(allow_none=True)
    bordereaux = fields.List(fields.Nested(ExportBordereauSchema), required=True)


class ExportPageSchema(ma.Schema):
    items = fields.List(fields.Nested(ExportSchema), required=True)
    next_after = Int(allow_none=True, required=True,
                     metadata={"description": "À passer dans `after` pour la page suivante."})


class ExportQuerySchema(ma.Schema):
    status = Str(validate=validate.OneOf(EXPORT_STATUSES))
    after = _id(metadata={"description": "Curseur : l'identifiant du dernier export reçu"})
    limit = Int(strict=False, load_default=50, validate=validate.Range(min=1, max=200))


class ReturnUploadSchema(ma.Schema):
    kind = Str(required=True, validate=validate.OneOf(["acquit", "retour"]),
               metadata={"description": "`acquit` (PES_ACQUIT) ou `retour` (PES_Retour)"})
    file = Upload(required=True, metadata={"description": "Le fichier XML reçu du comptable"})


class ReturnFileSchema(ma.Schema):
    id = Int(required=True)
    kind = Str(required=True)
    filename = Str(required=True)
    sha256 = Str(required=True)
    size = Int(required=True)
    pes_name = Str(allow_none=True)
    changes = fields.List(Str(), required=True)
    imported_at = fields.DateTime(required=True)
    applied_now = fields.Boolean(metadata={"description": "Faux : ce fichier avait déjà été "
                                                          "appliqué"})
