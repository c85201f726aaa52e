"""The NinjaAPI at /api/v1: authentication, error shape, and each app's router."""

from __future__ import annotations

from ninja import NinjaAPI

from konvergo import __version__
from konvergo.api.auth import api_auth
from konvergo.api.errors import install_error_handlers
from konvergo.api.system import router as system_router
from konvergo.crm.api import router as crm_router
from konvergo.designer.api import router as designer_router
from konvergo.documents.api import router as documents_router
from konvergo.imports.api import router as imports_router
from konvergo.inbox.api import router as inbox_router
from konvergo.integrations.api import router as integrations_router
from konvergo.org.api import router as org_router
from konvergo.processes.api import router as processes_router
from konvergo.tickets.api import router as tickets_router
from konvergo.triggers.api import router as triggers_router

api = NinjaAPI(
    title="Konvergo API",
    version="1",
    description="Customers, processes, tickets and documents. Authenticate with "
    "`Authorization: Bearer <token>` (create one with `konvergo token create USERNAME`).",
    auth=api_auth,
    urls_namespace="api-v1",
    openapi_extra={"info": {"x-konvergo-version": __version__}},
)
install_error_handlers(api)
api.add_router("/", system_router)
api.add_router("/", org_router)  # /users, /departments, /teams, /roles
api.add_router("/", processes_router)  # /processes/..., /tasks
api.add_router("/crm", crm_router)  # /crm/organizations, /crm/deals, ...
api.add_router("/imports", imports_router)  # /imports/...
api.add_router("/tickets", tickets_router)  # /tickets/..., /tickets/queues, /tickets/sla-policies
api.add_router("/triggers", triggers_router)  # /triggers/rules, /triggers/firings
api.add_router("/inbox", inbox_router)  # /inbox/items
api.add_router("/integrations", integrations_router)  # webhooks, sms, calls, mail
api.add_router("/designer", designer_router)  # drafts, validation, sandbox, monitoring
api.add_router("/documents", documents_router)  # documents, versions, templates, approvals
