"""Import every model so that metadata (and Alembic) sees the whole schema."""

from parapheur.accounting.models import (  # noqa: F401
    AccountingCounter,
    BordereauMandats,
    Mandat,
    PesExport,
)
from parapheur.accounts.models import (  # noqa: F401
    Delegation,
    Desk,
    Role,
    SigningCredential,
    Throttle,
    User,
)
from parapheur.api.models import ApiToken, IdempotencyRecord  # noqa: F401, E402
from parapheur.audit.models import AuditChainHead, AuditEvent  # noqa: F401
from parapheur.circuits.models import StepAction  # noqa: F401
from parapheur.documents.annexes import Annex  # noqa: F401
from parapheur.documents.comments import Comment  # noqa: F401
from parapheur.documents.models import (  # noqa: F401
    CircuitVersion,
    Document,
    DocumentStatus,
    DocumentVersion,
    ReachedDesk,
    VersionKind,
)
from parapheur.documents.reading import PageView  # noqa: F401
from parapheur.invoices.models import (  # noqa: F401
    Engagement,
    Invoice,
    InvoiceAttachment,
    InvoiceLine,
    InvoiceProblem,
    InvoiceStatusChange,
    InvoiceVatBreakdown,
)
from parapheur.notifications.models import (  # noqa: F401
    Notification,
    NotificationPreference,
    OrganisationQuietHours,
)
from parapheur.organisations.models import Budget, Membership, Organisation  # noqa: F401
from parapheur.outbox.models import OutboxMessage  # noqa: F401
from parapheur.signatures.agent_models import (  # noqa: F401
    AgentPreparedDocument,
    AgentSigningSession,
    RegisteredCertificate,
)
from parapheur.sso.models import IdentityProvider, SsoIdentity  # noqa: F401
from parapheur.webhooks.models import WebhookDelivery, WebhookSubscription  # noqa: F401, E402
