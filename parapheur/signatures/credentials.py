"""The user's signing credential: which one signs for her, read once per unit of work."""

from __future__ import annotations

from functools import cache

from sqlalchemy import ColumnElement, Integer, bindparam, func, select
from sqlalchemy.orm import Session, aliased

from parapheur.accounts.models import SigningCredential, User
from parapheur.db import memoized
from parapheur.errors import N_, ParapheurError


class NoCredential(ParapheurError):
    """The user has no signing certificate configured."""

    status = 400

    def __init__(self) -> None:
        super().__init__(N_("Aucun certificat de signature n'est configuré pour votre compte : "
                            "contactez l'administrateur."))


def latest_active_id(user_id: ColumnElement[int]) -> ColumnElement[int]:
    """SQL: the id of the user's credential that signs (her latest active one), or NULL (over
    its own alias of the table: a query may join the credential this designates)."""
    mine = aliased(SigningCredential)
    return (select(func.max(mine.id)).where(mine.user_id == user_id, mine.active.is_(True))
            .scalar_subquery())


def _key(user_id: int) -> tuple:
    return ("active_credential", user_id)


def remember(session: Session, user_id: int, credential: SigningCredential | None) -> None:
    """Her credential as another query of this unit of work read it (`latest_active_id`;
    None: she has none), kept for `active_credential`."""
    memoized(session, _key(user_id), lambda: credential)


@cache
def _statement():
    """The query of `active_credential` on its own, built once."""
    return select(SigningCredential).where(
        SigningCredential.id == latest_active_id(bindparam("user_id", type_=Integer)))


def active_credential(session: Session, user: User) -> SigningCredential:
    """The user's signing credential, or NoCredential."""
    credential = memoized(session, _key(user.id), lambda: session.execute(
        _statement(), {"user_id": user.id}).scalars().first())
    usable = credential is not None and (
        (credential.kind == "pkcs12" and credential.pkcs12_path)
        or (credential.kind == "pkcs11" and credential.pkcs11_module))
    if not usable:
        raise NoCredential()
    assert credential is not None
    return credential
