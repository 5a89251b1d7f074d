"""Creating users and desks, checking passwords, and who may act for which desk."""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, selectinload

from parapheur.accounts import throttle
from parapheur.accounts.models import (
    Delegation,
    Desk,
    Role,
    SigningCredential,
    Throttle,
    User,
)
from parapheur.audit import services as audit
from parapheur.dates import days_period
from parapheur.db import memoized, transaction
from parapheur.errors import N_, Conflict, NotFound, ParapheurError
from parapheur.fields import FieldError, bounded
from parapheur.notifications.events import queue_event
from parapheur.organisations.models import Organisation
from parapheur.outbox import services as outbox

_hasher = PasswordHasher()
_dummy_hash: tuple[PasswordHasher, str] | None = None


def _dummy_hash_of(hasher: PasswordHasher) -> str:
    """A hash made with `hasher`'s costs: verifying against it keeps the time of a login with an
    unknown user equal to a wrong password. Made at the first such login, not at import (a hash
    costs half a second, which every command would pay at start)."""
    global _dummy_hash
    if _dummy_hash is None or _dummy_hash[0] is not hasher:
        _dummy_hash = (hasher, hasher.hash("parapheur-dummy-password"))
    return _dummy_hash[1]


class InvalidCredentials(ParapheurError):
    """Unknown user, wrong password or disabled account (deliberately not told apart)."""

    status = 401

    def __init__(self) -> None:
        super().__init__(N_("Identifiant ou mot de passe incorrect."))


TooManyAttempts = throttle.TooManyAttempts


def _lockout(retry_after: int) -> throttle.TooManyAttempts:
    minutes = max(1, -(-retry_after // 60))
    if minutes == 1:
        return throttle.TooManyAttempts(
            N_("Trop de tentatives de connexion échouées pour cet identifiant : réessayez dans "
               "%(minutes)s minute, ou demandez à un administrateur de débloquer le compte."),
            retry_after, minutes=minutes)
    return throttle.TooManyAttempts(
        N_("Trop de tentatives de connexion échouées pour cet identifiant : réessayez dans "
           "%(minutes)s minutes, ou demandez à un administrateur de débloquer le compte."),
        retry_after, minutes=minutes)


def log_in(session: Session, username: str, password: str, *, now: datetime) -> User:
    """Check a login form's credentials; journal the outcome; commits.

    One attempt is reserved for the username before the password is checked, so that at most
    `throttle.LOGIN.limit` passwords are checked per username and window however many requests
    arrive at once. Raises TooManyAttempts (nothing checked) or InvalidCredentials.
    """
    username = username.strip()
    try:
        throttle.reserve(session, throttle.LOGIN, username, now=now, message="")
    except throttle.TooManyAttempts as exc:
        raise _lockout(exc.retry_after) from None
    try:
        with transaction(session):
            user = authenticate(session, username, password)
            throttle.clear(session, throttle.LOGIN, username)
            audit.record(session, "account:login:succeeded", actor=user, clock=lambda: now)
    except InvalidCredentials:
        with transaction(session):
            audit.record(session, "account:login:failed", details={"username": username[:80]},
                         clock=lambda: now)
        raise
    return user


def unlock(session: Session, username: str, *, now: datetime, actor: User | None) -> None:
    """Give a username its login attempts back (an administrator's decision, journaled)."""
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None:
        raise NotFound(N_("Le compte « %(value)s » n'existe pas."), value=username[:80])
    used = throttle.attempts(session, throttle.LOGIN, username, now=now)
    throttle.clear(session, throttle.LOGIN, username)
    audit.record(session, "account:login:unlocked", actor=actor,
                 details={"user_id": user.id, "username": username, "attempts": used},
                 clock=lambda: now)


def locked_usernames(session: Session, *, now: datetime) -> set[str]:
    """Usernames with no login attempt left now (shown to administrators, who may unlock them)."""
    prefix = throttle.LOGIN.key("")
    rows = session.execute(select(Throttle.key, Throttle.attempts, Throttle.window_started_at)
                           .where(Throttle.key.startswith(prefix, autoescape=True))).all()
    return {row.key[len(prefix):] for row in rows
            if row.attempts >= throttle.LOGIN.limit
            and row.window_started_at > now - throttle.LOGIN.window}


def revoke_sessions(user: User) -> None:
    """End every session of `user` at its next request (logout, password change, disabling)."""
    user.session_generation = (user.session_generation or 0) + 1


def change_password(session: Session, user: User, *, current: str, new: str, now: datetime,
                    actor: User, confirm: str | None = None) -> None:
    """Replace a user's password (the current one is checked) and end all their sessions."""
    try:
        _hasher.verify(user.password_hash, current)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        raise ParapheurError(N_("Le mot de passe actuel est incorrect."), status=403) from None
    if confirm is not None and new != confirm:
        raise ParapheurError(N_("Les deux saisies du nouveau mot de passe diffèrent."))
    if new == current:
        raise ParapheurError(N_("Le nouveau mot de passe doit différer de l'actuel."))
    set_password(session, user, new, now=now, actor=actor)


def set_password(session: Session, user: User, new: str, *, now: datetime,
                 actor: User | None) -> None:
    """Give `user` a new password and end all their sessions (journaled, never the password)."""
    check_password_strength(new)
    user.password_hash = hash_password(new)
    revoke_sessions(user)
    session.flush()
    audit.record(session, "account:password:changed", actor=actor,
                 details={"user_id": user.id, "username": user.username}, clock=lambda: now)


def check_password_strength(password: str) -> None:
    """Refuse passwords too short to resist guessing, or too long to hash quickly."""
    if len(password) < 8:
        raise ParapheurError(N_("Le mot de passe doit compter au moins 8 caractères."))
    if len(password) > 256:
        raise ParapheurError(N_("Le mot de passe ne doit pas dépasser 256 caractères."))


def hash_password(password: str) -> str:
    """An argon2id hash of the password."""
    return _hasher.hash(password)


def authenticate(session: Session, username: str, password: str) -> User:
    """The user with these credentials, or InvalidCredentials."""
    user = session.execute(select(User).where(User.username == username.strip())).scalar_one_or_none()
    if user is None:
        try:
            _hasher.verify(_dummy_hash_of(_hasher), password)
        except VerificationError:
            pass
        raise InvalidCredentials()
    try:
        _hasher.verify(user.password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        raise InvalidCredentials() from None
    if not user.active:
        raise InvalidCredentials()
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def create_user(session: Session, *, organisation: Organisation, username: str, full_name: str,
                password: str, role: Role, title: str | None = None, email: str | None = None,
                now: datetime, actor: User | None = None) -> User:
    """Add a user; the username must be free."""
    bounded(username, field="username", label="Identifiant")
    bounded(full_name, field="full_name", label="Nom complet")
    bounded(title, field="title", label="Qualité", kind="quality")
    bounded(email, field="email", label="Adresse électronique")
    check_password_strength(password)
    if session.execute(select(User.id).where(User.username == username)).first():
        raise Conflict(N_("L'identifiant « %(username)s » est déjà pris."), username=username)
    user = User(organisation=organisation, username=username, full_name=full_name, password_hash=hash_password(password),
                role=role, title=title, email=email, active=True, created_at=now)
    session.add(user)
    session.flush()
    audit.record(session, "account:user:created", actor=actor,
                 details={"user_id": user.id, "username": username, "role": role.value,
                          "organisation_id": organisation.id},
                 clock=lambda: now)
    return user


def _member_of(session: Session, user: User, organisation_id: int) -> bool:
    from parapheur.organisations.scope import place_in

    return place_in(session, user, organisation_id) is not None


def create_desk(session: Session, *, organisation: Organisation, slug: str, name: str,
                quality: str | None = None, members: Iterable[User] = (), now: datetime,
                actor: User | None = None) -> Desk:
    """Add a desk (bureau) with its members."""
    bounded(slug, field="slug", label="Code du bureau", kind="username")
    bounded(name, field="name", label="Nom du bureau", kind="desk_name")
    bounded(quality, field="quality", label="Qualité")
    if session.execute(select(Desk.id).where(Desk.organisation_id == organisation.id,
                                             Desk.slug == slug)).first():
        raise Conflict(N_("Le bureau « %(slug)s » existe déjà."), slug=slug)
    members = list(members)
    if any(not _member_of(session, member, organisation.id) for member in members):
        raise ParapheurError(N_("Les membres d'un bureau appartiennent à sa collectivité."))
    desk = Desk(organisation=organisation, slug=slug, name=name, quality=quality, members=members)
    session.add(desk)
    session.flush()
    audit.record(session, "account:desk:created", actor=actor,
                 details={"desk": slug, "name": name, "members": [u.username for u in desk.members],
                          "organisation_id": organisation.id},
                 clock=lambda: now)
    return desk


@dataclass(frozen=True)
class ActingCapacity:
    """How a user may act for a desk: as a member, or as a delegate in the absence of its holder."""

    desk: Desk
    via: Desk | None = None  # the user's own desk that received the delegation

    @property
    def delegated(self) -> bool:
        return self.via is not None


@dataclass(frozen=True)
class ActingRights:
    """Whom one user may act for at one moment: their own desks, and the delegations in force."""

    own: dict[str, Desk]  # the user's desks, by slug
    delegations: tuple[Delegation, ...]  # in force towards one of them, oldest first

    def capacity(self, desk_slug: str, doc_type: str) -> ActingCapacity | None:
        """How the user may act for that desk on a document of that type, or None."""
        desk = self.own.get(desk_slug)
        if desk is not None:
            return ActingCapacity(desk)
        for delegation in self.delegations:
            if delegation.from_desk.slug == desk_slug and (
                    delegation.document_types is None or doc_type in delegation.document_types):
                return ActingCapacity(delegation.from_desk, via=delegation.to_desk)
        return None


def acting_rights(session: Session, user: User, *, now: datetime) -> ActingRights:
    """The user's desks and the delegations in force towards them (one query, then no more)."""
    return ActingRights({desk.slug: desk for desk in user.desks},
                        tuple(delegated_desks(session, user, now=now)))


def acting_capacity(session: Session, user: User, desk: Desk, *, doc_type: str,
                    now: datetime) -> ActingCapacity | None:
    """Whether `user` may act for `desk` now, directly or through a valid delegation."""
    return acting_rights(session, user, now=now).capacity(desk.slug, doc_type)


@cache
def _delegations_in_force():
    """The query of `delegated_desks`, built once (the inbox and the document page run it)."""
    now = bindparam("now", type_=Delegation.starts_at.type)
    return (select(Delegation)
            .where(Delegation.to_desk_id.in_(bindparam("desk_ids", expanding=True)),
                   Delegation.starts_at <= now, Delegation.ends_at > now)
            .order_by(Delegation.id)
            .options(selectinload(Delegation.from_desk), selectinload(Delegation.to_desk)))


def delegated_desks(session: Session, user: User, *, now: datetime) -> list[Delegation]:
    """Delegations currently in force towards one of the user's desks (oldest first)."""
    own_desk_ids = tuple(d.id for d in user.desks)
    if not own_desk_ids:
        return []
    # Read once per request (the access query, the acting rights and the pages all ask).
    return list(memoized(session, ("delegated_desks", user.id, own_desk_ids, now), lambda: tuple(
        session.execute(_delegations_in_force(),
                        {"desk_ids": list(own_desk_ids), "now": now}).scalars())))


def acting_desk_slugs(session: Session, user: User, *, now: datetime) -> set[str]:
    """Desks the user may act for now: their own, and those delegating to one of them."""
    return ({desk.slug for desk in user.desks}
            | {delegation.from_desk.slug for delegation in delegated_desks(session, user, now=now)})


def delegation_period(first_day: date, last_day: date) -> tuple[datetime, datetime]:
    """[starts_at, ends_at) of a delegation « du `first_day` au `last_day` », both days included.

    The one rule for the web form and `parapheur delegations create`: days in Paris time, the
    delegation ends at midnight (Paris) after its last day.
    """
    if last_day < first_day:
        raise ParapheurError(N_("La fin de la délégation (son dernier jour) ne peut pas "
                                "précéder son début."))
    if first_day.year < 2000 or last_day.year > 2199:
        raise ParapheurError(N_("Les dates de la délégation doivent être comprises entre 2000 "
                                "et 2199."))
    return days_period(first_day, last_day)


def create_delegation(session: Session, *, from_desk: Desk, to_desk: Desk, starts_at: datetime,
                      ends_at: datetime, document_types: list[str] | None = None,
                      now: datetime, actor: User | None = None) -> Delegation:
    """Desk `from_desk` hands its work to `to_desk` from `starts_at` to `ends_at`."""
    if from_desk.id == to_desk.id:
        raise ParapheurError(N_("Un bureau ne peut pas se déléguer à lui-même."))
    if from_desk.organisation_id != to_desk.organisation_id:
        raise ParapheurError(N_("Une délégation relie deux bureaux de la même collectivité."))
    if ends_at <= starts_at:
        raise ParapheurError(N_("La fin de la délégation doit suivre son début."))
    if starts_at.year < 2000 or ends_at.year > 2199:
        raise ParapheurError(N_("Les dates de la délégation doivent être comprises entre 2000 "
                                "et 2199."))
    delegation = Delegation(from_desk=from_desk, to_desk=to_desk, starts_at=starts_at,
                            ends_at=ends_at, document_types=document_types or None, created_at=now)
    session.add(delegation)
    session.flush()
    audit.record(session, "account:delegation:created", actor=actor,
                 details={"from": from_desk.slug, "to": to_desk.slug,
                          "starts_at": starts_at.isoformat(), "ends_at": ends_at.isoformat(),
                          "types": document_types or None}, clock=lambda: now)
    _queue_delegation_notices(session, delegation, now=now)
    return delegation


def _queue_delegation_notices(session: Session, delegation: Delegation, *, now: datetime) -> None:
    """Both desks are told when the delegation starts and when it ends (at those times)."""
    for event, at in (("delegation_started", delegation.starts_at),
                      ("delegation_ended", delegation.ends_at)):
        queue_event(session, event, now=now, key=f"{event}:{delegation.id}",
                    available_at=max(at, now), delegation_id=delegation.id)


def end_delegation(session: Session, delegation: Delegation, *, now: datetime,
                   actor: User | None = None) -> None:
    """End a delegation now; one that has not started yet is cancelled (it ends as it starts)."""
    if delegation.ends_at <= now:
        raise Conflict(N_("Cette délégation est déjà terminée."))
    delegation.ends_at = max(now, delegation.starts_at)
    session.flush()
    _reschedule_delegation_end(session, delegation, now=now)
    audit.record(session, "account:delegation:ended", actor=actor,
                 details={"delegation_id": delegation.id, "from": delegation.from_desk.slug,
                          "to": delegation.to_desk.slug, "ends_at": delegation.ends_at.isoformat()},
                 clock=lambda: now)


def _reschedule_delegation_end(session: Session, delegation: Delegation, *,
                               now: datetime) -> None:
    for event in ("delegation_started", "delegation_ended"):
        message = outbox.find_by_key(session, f"{event}:{delegation.id}")
        if message is None:
            continue
        if event == "delegation_started" and delegation.ends_at <= delegation.starts_at:
            # Cancelled before it started: nobody is told it starts, only that it ended.
            outbox.cancel(session, message, "délégation annulée avant son début", now=now)
        elif event == "delegation_ended":
            outbox.reschedule(session, message, max(now, delegation.ends_at))


def set_active(session: Session, user: User, active: bool, *, now: datetime, actor: User) -> None:
    """Enable or disable an account; nobody disables their own."""
    if user.id == actor.id and not active:
        raise ParapheurError(N_("Vous ne pouvez pas désactiver votre propre compte."))
    user.active = active
    if not active:
        revoke_sessions(user)
    session.flush()
    audit.record(session, "account:user:enabled" if active else "account:user:disabled",
                 actor=actor, details={"user_id": user.id, "username": user.username},
                 clock=lambda: now)


def add_member(session: Session, desk: Desk, user: User, *, now: datetime,
               actor: User | None) -> None:
    """Make `user` a member of `desk`."""
    if user in desk.members:
        raise Conflict(N_("%(full_name)s est déjà membre du bureau %(desk_name)s."),
                       full_name=user.full_name, desk_name=desk.name)
    if not _member_of(session, user, desk.organisation_id):
        raise ParapheurError(N_("Les membres d'un bureau appartiennent à sa collectivité."))
    desk.members.append(user)
    session.flush()
    audit.record(session, "account:desk:member_added", actor=actor,
                 details={"desk": desk.slug, "username": user.username}, clock=lambda: now)


def remove_member(session: Session, desk: Desk, user: User, *, now: datetime,
                  actor: User) -> None:
    """Remove `user` from `desk`."""
    if user not in desk.members:
        raise Conflict(N_("%(full_name)s n'est pas membre du bureau %(desk_name)s."),
                       full_name=user.full_name, desk_name=desk.name)
    desk.members.remove(user)
    session.flush()
    audit.record(session, "account:desk:member_removed", actor=actor,
                 details={"desk": desk.slug, "username": user.username}, clock=lambda: now)


def register_pkcs12(session: Session, user: User, data: bytes, passphrase: str, *,
                    directory: Path, now: datetime, actor: User, trust_roots: list,
                    name_mismatch_reason: str | None = None) -> SigningCredential:
    """Give `user` a PKCS#12 signing key: it must open with `passphrase` and be usable now.

    The file is kept (mode 0600) under `directory`; the passphrase is only used to check it and
    is asked again at every signature. The user's previous credentials are deactivated.
    """
    import os
    import tempfile

    from signing.errors import SigningError
    from signing.keys import Pkcs12Key

    if not data:
        raise ParapheurError(N_("Choisissez le fichier PKCS#12 (.p12 ou .pfx) du certificat."))
    directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=directory, prefix=".incoming-", suffix=".p12")
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(path, 0o600)
        try:
            key = Pkcs12Key.open(path, passphrase)
        except SigningError as exc:
            raise ParapheurError(exc.template, **exc.params) from None
        details = check_certificate_for(user, key, trust_roots=trust_roots, now=now,
                                        name_mismatch_reason=name_mismatch_reason)
        target = directory / f"user-{user.id}-{hashlib.sha256(data).hexdigest()[:16]}.p12"
        os.replace(path, target)
    finally:
        path.unlink(missing_ok=True)
    return _activate_credential(
        session, user, SigningCredential(kind="pkcs12", label=f"Certificat de {key.subject_name}",
                                         pkcs12_path=str(target)),
        key.certificate, {"sha256": hashlib.sha256(data).hexdigest(), **details}, now=now,
        actor=actor)


def _activate_credential(session: Session, user: User, credential: SigningCredential,
                         certificate, details: dict, *, now: datetime,
                         actor: User) -> SigningCredential:
    """Make `credential` the user's only active one, and journal it with its certificate."""
    for previous in user.credentials:
        previous.active = False
    credential.user = user
    credential.certificate_subject = certificate.subject.human_friendly
    credential.active = True
    credential.created_at = now
    session.add(credential)
    session.flush()
    audit.record(session, "account:credential:registered", actor=actor,
                 details={"user_id": user.id, "username": user.username, "kind": credential.kind,
                          "subject": certificate.subject.human_friendly,
                          "issuer": certificate.issuer.human_friendly,
                          "serial": str(certificate.serial_number), **details},
                 clock=lambda: now)
    return credential


def register_pkcs11(session: Session, user: User, *, module: str, token_label: str,
                    key_label: str, pin: str, now: datetime, actor: User, trust_roots: list,
                    allowed_modules: Iterable[Path] = (),
                    name_mismatch_reason: str | None = None) -> SigningCredential:
    """Give `user` a key on a PKCS#11 token (smartcard or HSM on the server), checked with its PIN.

    The PIN is used once to find the key and its certificate; it is asked again at every signature
    and never kept. One login only: a wrong PIN is reported, never retried (cards lock).
    """
    from signing.errors import SigningError
    from signing.keys import KeySpec, open_key

    allowed = {Path(p).resolve() for p in allowed_modules}
    if not module or Path(module).resolve() not in allowed:
        shown = ", ".join(sorted(str(p) for p in allowed)) or "aucun"
        raise FieldError("module", N_("Module PKCS#11 non autorisé : « %(value)s ». Seuls les "
                                      "modules de PARAPHEUR_PKCS11_MODULES peuvent servir "
                                      "(%(shown)s)."), value=module[:200], shown=shown)
    if not Path(module).is_file():
        raise ParapheurError(N_("Module PKCS#11 introuvable : %(module)s"), module=module)
    bounded(token_label, field="token_label", label="Libellé du jeton", kind="label")
    bounded(key_label, field="key_label", label="Libellé de la clé", kind="label")
    if not token_label.strip() or not key_label.strip():
        raise ParapheurError(N_("Le libellé du jeton et celui de la clé sont obligatoires."))
    try:
        key = open_key(KeySpec(kind="pkcs11", module=module, token_label=token_label.strip(),
                               key_label=key_label.strip(), pin=pin))
        try:
            details = check_certificate_for(user, key, trust_roots=trust_roots, now=now,
                                            name_mismatch_reason=name_mismatch_reason)
            certificate = key.certificate
        finally:
            key.close()
    except SigningError as exc:
        raise ParapheurError(exc.template, **exc.params) from None
    return _activate_credential(
        session, user, SigningCredential(
            kind="pkcs11", label=f"Jeton {token_label.strip()} — {key_label.strip()}",
            pkcs11_module=module, token_label=token_label.strip(), key_label=key_label.strip()),
        certificate, {"token": token_label.strip(), "key": key_label.strip(), **details}, now=now,
        actor=actor)


def _comparable_name(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name)
    letters = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(letters.replace("-", " ").casefold().split())


def check_certificate_for(user: User, key, *, trust_roots: list, now: datetime,
                          name_mismatch_reason: str | None = None) -> dict:
    """Refuse a certificate that cannot be this user's signing certificate; details to journal.

    It must be valid now with a signing key usage, chain to the trust anchors, not be revoked
    (when its responder answers), and be in the account holder's name — unless an administrator
    gives a reason for the difference, which is journaled.
    """
    import asyncio

    from pyhanko_certvalidator import CertificateValidator
    from pyhanko_certvalidator.errors import PathBuildingError, PathValidationError, RevokedError

    from signing.errors import SigningError
    from signing.fetching import collection_context
    from signing.keys import check_certificate_usable, subject_common_name

    certificate = key.certificate
    try:
        check_certificate_usable(certificate, now)
    except SigningError as exc:
        raise ParapheurError(exc.template, **exc.params) from None
    holder = subject_common_name(certificate)
    if not trust_roots:
        raise ParapheurError(N_("Aucune autorité de confiance n'est configurée "
                                "(PARAPHEUR_TRUST_ANCHORS) : aucun certificat ne peut être "
                                "vérifié."))
    chain = [c for c in key.signer.cert_registry if c.dump() != certificate.dump()]
    context = collection_context(trust_roots, other_certs=chain, revocation_mode="soft-fail")
    validator = CertificateValidator(certificate, intermediate_certs=chain,
                                     validation_context=context)
    try:
        asyncio.run(validator.async_validate_usage(set()))
    except RevokedError:
        raise ParapheurError(N_("Le certificat de %(holder)s est révoqué : il ne peut pas être "
                                "enregistré."), holder=holder) from None
    except PathBuildingError:
        raise ParapheurError(N_("Le certificat de %(holder)s n'est pas émis par une autorité "
                                "de confiance de cette application (PARAPHEUR_TRUST_ANCHORS) : "
                                "il ne peut pas être enregistré."), holder=holder) from None
    except PathValidationError as exc:
        raise ParapheurError(N_("Le certificat de %(holder)s n'a pas pu être validé "
                                "(%(detail)s) : il ne peut pas être enregistré."),
                             holder=holder, detail=exc) from None
    details: dict = {}
    if _comparable_name(holder) != _comparable_name(user.full_name):
        reason = (bounded(name_mismatch_reason, field="name_mismatch_reason", label="Motif",
                          kind="reason") or "").strip()
        if not reason:
            raise FieldError("name_mismatch_reason",
                             N_("Le certificat est au nom de « %(holder)s », le compte est "
                                "celui de « %(full_name)s » : indiquez le motif de cette "
                                "différence pour l'enregistrer quand même (il sera journalisé)."),
                             holder=holder, full_name=user.full_name)
        details["name_mismatch_reason"] = reason
    return details
