"""The process library shipped with Konvergo: ready-made processes, deployable in one click.

The files live in `processes/library/` (the demo deploys some of them too); this catalogue
gives each a translatable title and description for the five-language interface. The element
names inside the BPMN files stay as written there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from konvergo.processes.forms import form_files_beside
from konvergo.processes.models import ProcessDefinition
from konvergo.processes.services import definition_deploy

LIBRARY = Path(__file__).resolve().parent.parent / "processes" / "library"


@dataclass(frozen=True)
class LibraryProcess:
    key: str  # the BPMN process id (and file name)
    title: Promise
    description: Promise
    area: Promise
    dmn: tuple[str, ...] = ()
    # Start variables the process reads (name -> what it is), shown on the library page.
    variables: tuple[tuple[str, Promise], ...] = ()

    @property
    def bpmn_path(self) -> Path:
        return LIBRARY / f"{self.key}.bpmn"

    def bpmn(self) -> bytes:
        return self.bpmn_path.read_bytes()

    def form_files(self) -> dict[str, bytes]:
        """The form-js files its user tasks name, read from the library folder."""
        return form_files_beside(self.bpmn_path)

    def dmn_files(self) -> list[bytes]:
        return [(LIBRARY / name).read_bytes() for name in self.dmn]


OWNER = ("owner", _("user name of the responsible person"))
MANAGER = ("manager", _("user name of the manager"))

PROCESSES = [
    LibraryProcess(
        "lead_qualification",
        _("Lead qualification and follow-up"),
        _(
            "The owner qualifies a new lead (budget, need, timeline); a qualified lead gets a "
            "reminder and a follow-up call two days later, the others are closed."
        ),
        _("Sales"),
        variables=(OWNER, ("lead", _("name of the lead"))),
    ),
    LibraryProcess(
        "quote_approval",
        _("Quote approval by amount"),
        _(
            "A decision table picks who approves a quote by its amount and discount: nobody "
            "for small ones, the head of sales, or the managing director; then the owner sends it."
        ),
        _("Sales"),
        dmn=("quote_approval.dmn",),
        variables=(
            OWNER,
            ("amount", _("quote amount")),
            ("discount", _("discount in per cent")),
            ("head_of_sales", _("user name of the head of sales")),
            ("director", _("user name of the managing director")),
        ),
    ),
    LibraryProcess(
        "contract_approval",
        _("Contract approval"),
        _(
            "Legal reviews the contract, the managing director approves it and the owner "
            "records the signature; a rejection is reported to the owner."
        ),
        _("Sales"),
        variables=(
            OWNER,
            ("contract", _("name of the contract")),
            ("legal", _("user name of the lawyer")),
            ("director", _("user name of the managing director")),
        ),
    ),
    LibraryProcess(
        "client_onboarding",
        _("Client onboarding"),
        _(
            "After a won deal the account is set up and a kick-off meeting held in parallel; "
            "the client is welcomed and asked about satisfaction thirty days later."
        ),
        _("Sales"),
        variables=(OWNER, ("client", _("name of the client"))),
    ),
    LibraryProcess(
        "complaint_handling",
        _("Complaint handling"),
        _(
            "Service triages a complaint, severe ones go to the manager first, and the owner "
            "resolves it until the client confirms they are satisfied."
        ),
        _("Service"),
        variables=(OWNER, MANAGER),
    ),
    LibraryProcess(
        "missed_call_callback",
        _("Missed-call call-back"),
        _(
            "A missed call becomes a call-back task; if nobody answers, a second attempt four "
            "hours later, and then the owner is told."
        ),
        _("Service"),
        variables=(OWNER, ("caller", _("phone number or name of the caller"))),
    ),
    LibraryProcess(
        "employee_onboarding",
        _("Employee onboarding"),
        _(
            "IT prepares the workplace while HR files the papers; the manager welcomes the new "
            "employee and reviews the probation after ninety days."
        ),
        _("Human resources"),
        variables=(MANAGER,),
    ),
    LibraryProcess(
        "supplier_invoice_approval",
        _("Supplier invoice approval"),
        _(
            "Accounting checks a supplier invoice, a decision table picks the approver by "
            "amount (the manager up to 5,000, the CFO above), and approved invoices are "
            "scheduled for payment."
        ),
        _("Accounting"),
        dmn=("supplier_invoice_approval.dmn",),
        variables=(MANAGER, ("cfo", _("user name of the CFO"))),
    ),
    LibraryProcess(
        "vacation_request",
        _("Vacation request"),
        _(
            "The manager approves or rejects a vacation request; HR records approved vacations "
            "and the employee is told either way."
        ),
        _("Human resources"),
        variables=(
            MANAGER,
            ("employee", _("user name of the employee")),
            ("first_day", _("first day of the vacation")),
            ("last_day", _("last day of the vacation")),
        ),
    ),
]
BY_KEY = {p.key: p for p in PROCESSES}


def entry(key: str) -> LibraryProcess | None:
    return BY_KEY.get(key)


def deploy(process: LibraryProcess, *, actor: Any = None) -> ProcessDefinition:
    """Deploy a library process with its decision tables and forms (the same files again
    give the same version)."""
    result = definition_deploy(
        xml=process.bpmn(),
        dmn=process.dmn_files(),
        forms=process.form_files(),
        actor=actor,
    )
    return next(d for d in result.definitions if d.key == process.key)


def deployed_versions() -> dict[str, int]:
    """process key -> latest deployed version, for the library page (one query)."""
    from django.db.models import Max

    return dict(
        ProcessDefinition.objects.filter(key__in=BY_KEY)
        .values_list("key")
        .annotate(v=Max("version"))
        .values_list("key", "v")
    )
