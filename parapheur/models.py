"""Import every model so that metadata (and Alembic) sees the whole schema."""

from parapheur.accounts.models import (  # noqa: F401
    Delegation,
    Desk,
    LoginFailure,
    Role,
    SigningCredential,
    User,
)
from parapheur.audit.models import AuditChainHead, AuditEvent  # noqa: F401
from parapheur.circuits.models import StepAction  # noqa: F401
from parapheur.documents.models import (  # noqa: F401
    CircuitVersion,
    Document,
    DocumentStatus,
    DocumentVersion,
    VersionKind,
)
from parapheur.organisations.models import Budget, Organisation  # noqa: F401
