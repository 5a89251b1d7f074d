"""Signed and checked PES_Aller files: the only way the product produces one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from parapheur.accounting.pes.builder import bordereau_document, build_pes
from parapheur.accounting.pes.model import Bordereau, PesAller
from parapheur.accounting.pes.validation import ensure_valid_aller
from signing.xades import XadesOptions, bordereau_element, sign_bordereaux


def sign_bordereau(pes: PesAller, bordereau: Bordereau, key: Any, options: XadesOptions,
                   **kwargs: Any) -> bytes:
    """The `Bordereau` element of `bordereau`, signed by `key` (XAdES), as ISO-8859-1 bytes."""
    document = bordereau_document(pes, bordereau)
    signed = sign_bordereaux(document, key, options, ids=[bordereau.xml_id], **kwargs)
    return bordereau_element(signed, bordereau.xml_id)


def write_pes(pes: PesAller, signed_bordereaux: Mapping[str, bytes] | None = None) -> bytes:
    """The PES_Aller of `pes`, or PesInvalid with every problem: an invalid file never exists.

    `InfoDematerialisee` is 1 exactly when signed bordereaux are given (all of them signed).
    """
    signed = dict(signed_bordereaux or {})
    content = PesAller(name=pes.name, budget=pes.budget, created_on=pes.created_on,
                       bordereaux=pes.bordereaux, attachments=pes.attachments,
                       emitter=pes.emitter, dematerialised=bool(signed))
    return ensure_valid_aller(build_pes(content, signed))
