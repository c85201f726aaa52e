# ruff: noqa: RUF001  (Cyrillic and Persian names and legal forms, on purpose)
"""The CRM part of the demo company: clients in Germany, Poland, Iran and Russia, their people,
deals in every stage of two pipelines, planned and done activities, a quote and a campaign.

Rows are written with the ORM in the form the contacts and deals services store them (lower-case
e-mails, E.164 phones, compact tax ids with valid check digits, normalised names), so the demo
depends only on the models. Runs after the people step (order 20), whose users own the records.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from konvergo.core.demo import register_demo_step
from konvergo.crm.choices import ActivityKind, CampaignMemberStatus, DealStatus
from konvergo.crm.models import (
    Activity,
    Address,
    CampaignMember,
    Deal,
    Email,
    Employment,
    Organization,
    OrganizationRelation,
    Person,
    Phone,
    Pipeline,
    Quote,
    QuoteLine,
    Stage,
    Tag,
    TaxId,
)
from konvergo.crm.services.campaigns import campaign_create, campaign_fill_from_segment
from konvergo.crm.services.contacts import normalize_name
from konvergo.crm.services.custom_fields import custom_data_clean, custom_field_create
from konvergo.org.models import Department, Scope, User
from konvergo.org.services import role_create

# --- valid tax ids --------------------------------------------------------------------------


def pl_nip(base: int) -> str:
    """A Polish NIP (10 digits, weighted mod 11) built from a base number; a base whose check
    would be 10 moves on to the next one."""
    for candidate in range(base, base + 20):
        digits = [int(d) for d in f"{candidate % 9 * 10**8 + 10**8 + candidate % 10**8:09d}"]
        weights = (6, 5, 7, 2, 3, 4, 5, 6, 7)
        check = sum(d * w for d, w in zip(digits, weights, strict=True)) % 11
        if check != 10:
            return "".join(map(str, digits)) + str(check)
    raise AssertionError("unreachable: one in eleven bases has check 10")


def de_vat(base: int) -> str:
    """A German USt-IdNr without the DE prefix (9 digits, ISO 7064 MOD 11,10)."""
    digits = [int(d) for d in f"{base % 10**8:08d}"]
    digits[0] = digits[0] or 1
    product = 10
    for digit in digits:
        total = (digit + product) % 10 or 10
        product = (2 * total) % 11
    check = (11 - product) % 10
    return "".join(map(str, digits)) + str(check)


def ru_inn(base: int) -> str:
    """A Russian INN of an organisation (10 digits; registered in Moscow, region 77)."""
    digits = [int(d) for d in f"77{base % 10**7:07d}"]
    weights = (2, 4, 10, 3, 5, 9, 4, 6, 8)
    check = sum(d * w for d, w in zip(digits, weights, strict=True)) % 11 % 10
    return "".join(map(str, digits)) + str(check)


def ir_national_id(base: int) -> str:
    """An Iranian legal entity's national id (11 digits; python-stdnum has no check for it)."""
    return f"{10100000000 + base % 10**9:011d}"


TAX_ID = {
    "DE": ("VAT", de_vat),
    "PL": ("NIP", pl_nip),
    "RU": ("INN", ru_inn),
    "IR": ("NID", ir_national_id),
}


# --- the directory --------------------------------------------------------------------------


@dataclass
class DemoPerson:
    first_name: str
    last_name: str
    position: str
    language: str
    email: str
    phone: str


@dataclass
class DemoClient:
    owner: str
    legal_name: str
    short_name: str
    legal_form: str
    country: str
    city: str
    street: str
    postal_code: str
    industry: str
    size: str
    status: str
    domain: str
    phone: str
    tags: Sequence[str] = ()
    people: list[DemoPerson] = field(default_factory=list)


def _p(first: str, last: str, position: str, language: str, email: str, phone: str) -> DemoPerson:
    return DemoPerson(first, last, position, language, email, phone)


# fmt: off
CLIENTS = [
    DemoClient(
        "lukas.becker", "Rheinmetallbau GmbH", "Rheinmetallbau", "GmbH", "DE", "Düsseldorf",
        "Königsallee 60", "40212", "Construction", "medium", "lead", "rheinmetallbau.de",
        "+4921112345678",
        people=[_p("Stefan", "Hoffmann", "Head of Purchasing", "de", "s.hoffmann",
                   "+4915112345678")],
    ),
    DemoClient(
        "lukas.becker", "Müller & Söhne Maschinenbau GmbH", "Müller & Söhne", "GmbH", "DE",
        "Stuttgart", "Heilbronner Str. 150", "70191", "Machinery", "large", "customer",
        "mueller-soehne.de", "+497111234567", tags=["VIP"],
        people=[
            _p("Julia", "Wagner", "Chief Financial Officer", "de", "julia.wagner",
               "+4915223456789"),
            _p("Markus", "Schulz", "IT Manager", "de", "markus.schulz", "+497111234568"),
        ],
    ),
    DemoClient(
        "lukas.becker", "Nordlicht Energie AG", "Nordlicht Energie", "AG", "DE", "Hamburg",
        "Große Elbstraße 145", "22767", "Energy", "large", "prospect", "nordlicht-energie.de",
        "+494012345678",
        people=[_p("Petra", "Klein", "Procurement", "de", "petra.klein", "+494012345679")],
    ),
    DemoClient(
        "katharina.vogel", "Bergmann Logistik GmbH", "Bergmann Logistik", "GmbH", "DE",
        "Berlin", "Am Borsigturm 100", "13507", "Logistics", "medium", "partner",
        "bergmann-logistik.de", "+4930901820", tags=["Reseller"],
        people=[_p("Tobias", "Fischer", "Managing Director", "de", "t.fischer",
                   "+4930901821")],
    ),
    DemoClient(
        "anna.nowak", "Baltic Logistics Sp. z o.o.", "Baltic Logistics", "Sp. z o.o.", "PL",
        "Gdańsk", "ul. Długie Ogrody 8", "80-765", "Logistics", "small", "lead",
        "baltic-logistics.pl", "+48586612345",
        people=[_p("Tomasz", "Wiśniewski", "Operations Manager", "pl", "t.wisniewski",
                   "+48601234567")],
    ),
    DemoClient(
        "anna.nowak", "Mazur & Syn", "Mazur & Syn", "", "PL", "Kraków", "ul. Floriańska 22",
        "31-021", "Furniture", "micro", "lead", "mazurisyn.pl", "+48124211234",
        people=[_p("Agnieszka", "Mazur", "Owner", "pl", "agnieszka", "+48602345678")],
    ),
    DemoClient(
        "anna.nowak", "Wisła Software S.A.", "Wisła Software", "S.A.", "PL", "Warszawa",
        "ul. Prosta 51", "00-838", "Software", "medium", "customer", "wislasoftware.pl",
        "+48226281234", tags=["VIP", "Trade fair"],
        people=[
            _p("Krzysztof", "Lewandowski", "CTO", "pl", "k.lewandowski", "+48603456789"),
            _p("Magdalena", "Wójcik", "Office Manager", "pl", "m.wojcik", "+48226281235"),
        ],
    ),
    DemoClient(
        "jan.kowalski", "Zielony Ogród Sp. z o.o.", "Zielony Ogród", "Sp. z o.o.", "PL",
        "Poznań", "ul. Półwiejska 42", "61-888", "Retail", "small", "prospect",
        "zielonyogrod.pl", "+48618501234", tags=["Trade fair"],
        people=[_p("Paweł", "Kamiński", "Buyer", "pl", "pawel.kaminski", "+48604567890")],
    ),
    DemoClient(
        "jan.kowalski", "Polmet Sp. j.", "Polmet", "Sp. j.", "PL", "Katowice",
        "ul. Chorzowska 107", "40-101", "Metalworking", "small", "former", "polmet.com.pl",
        "+48322561234",
        people=[_p("Ewa", "Zając", "Accountant", "pl", "ewa.zajac", "+48322561235")],
    ),
    DemoClient(
        "jan.kowalski", "Pars Petro Kala Co.", "پارس پترو کالا", "Private joint stock", "IR",
        "Tehran", "Vali Asr St. 2020", "1968917313", "Petrochemicals", "large", "customer",
        "parspetrokala.ir", "+982188776655", tags=["VIP"],
        people=[
            _p("Ali", "Rezaei", "Commercial Director", "fa", "a.rezaei", "+989121234567"),
            _p("مریم", "حسینی", "Purchasing", "fa", "m.hosseini", "+982188776656"),
        ],
    ),
    DemoClient(
        "jan.kowalski", "Sepahan Steel Co.", "Sepahan Steel", "Private joint stock", "IR",
        "Isfahan", "Chahar Bagh Abbasi St. 45", "8173613811", "Steel", "large", "prospect",
        "sepahansteel.ir", "+983132221100",
        people=[_p("Mohammad", "Moradi", "Plant Manager", "fa", "m.moradi", "+989131234567")],
    ),
    DemoClient(
        "anna.nowak", "Tabriz Carpet House", "Tabriz Carpet", "Partnership", "IR", "Tabriz",
        "Imam Khomeini St. 310", "5135743311", "Textiles", "small", "lead", "tabrizcarpet.ir",
        "+984135551234",
        people=[_p("Zahra", "Karimi", "Export Manager", "fa", "z.karimi", "+989141234567")],
    ),
    DemoClient(
        "lukas.becker", "ООО «Волга Трейд»", "Волга Трейд", "ООО", "RU", "Moscow",
        "ul. Tverskaya 15", "125009", "Wholesale", "medium", "customer", "volgatrade.ru",
        "+74951234567",
        people=[
            _p("Дмитрий", "Петров", "General Director", "ru", "d.petrov", "+79161234567"),
            _p("Елена", "Смирнова", "Chief Accountant", "ru", "e.smirnova", "+74951234568"),
        ],
    ),
    DemoClient(
        "jan.kowalski", "АО «Сибирские Технологии»", "Сибирские Технологии", "АО", "RU",
        "Novosibirsk", "Krasny prospekt 77", "630091", "Engineering", "large", "prospect",
        "sibtech.ru", "+73832123456",
        people=[_p("Sergey", "Kuznetsov", "Chief Engineer", "ru", "s.kuznetsov",
                   "+79131234567")],
    ),
    DemoClient(
        "lukas.becker", "Nevsky Consulting OOO", "Nevsky Consulting", "OOO", "RU",
        "Saint Petersburg", "Nevsky prospekt 28", "191186", "Consulting", "small", "partner",
        "nevsky-consulting.ru", "+78121234567", tags=["Reseller"],
        people=[_p("Olga", "Volkova", "Partner", "ru", "o.volkova", "+79211234567")],
    ),
]
# fmt: on

SALES_STAGES = [
    {"name": "Lead", "probability": 10},
    {"name": "Qualified", "probability": 25},
    {"name": "Proposal", "probability": 50},
    {"name": "Negotiation", "probability": 75},
    {"name": "Won", "probability": 100, "is_won": True},
    {"name": "Lost", "probability": 0, "is_lost": True},
]
RENEWAL_STAGES = [
    {"name": "Due", "probability": 40},
    {"name": "In talks", "probability": 70},
    {"name": "Renewed", "probability": 100, "is_won": True},
    {"name": "Cancelled", "probability": 0, "is_lost": True},
]
CURRENCY = {"DE": "EUR", "PL": "PLN", "IR": "IRR", "RU": "RUB"}
VAT_RATE = {"DE": Decimal("19"), "PL": Decimal("23"), "IR": Decimal("10"), "RU": Decimal("20")}

# (client short name, title, pipeline, stage, amount, days to expected close)
DEALS = [
    ("Rheinmetallbau", "Site logistics software", "Sales", "Lead", "18000", 60),
    ("Baltic Logistics", "Fleet tracking pilot", "Sales", "Lead", "45000", 75),
    ("Tabriz Carpet", "Export CRM set-up", "Sales", "Lead", "2500000000", 90),
    ("Nordlicht Energie", "Service desk for wind parks", "Sales", "Qualified", "120000", 45),
    ("Zielony Ogród", "Shop integration", "Sales", "Qualified", "38000", 50),
    ("Sepahan Steel", "Maintenance processes", "Sales", "Proposal", "9800000000", 30),
    ("Müller & Söhne", "Document management, 250 seats", "Sales", "Proposal", "86000", 21),
    ("Сибирские Технологии", "Engineering change workflow", "Sales", "Negotiation", "7400000", 14),
    ("Mazur & Syn", "Starter package", "Sales", "Negotiation", "12000", 10),
    ("Wisła Software", "Support tickets, 3 years", "Sales", "Won", "150000", -20),
    ("Волга Трейд", "Order approvals", "Sales", "Won", "3200000", -35),
    ("Polmet", "Quality audits", "Sales", "Lost", "27000", -60),
    ("Bergmann Logistik", "Partner portal", "Sales", "Lost", "15000", -40),
    ("Wisła Software", "Licence renewal 2027", "Renewals", "Due", "60000", 120),
    ("پارس پترو کالا", "Annual support", "Renewals", "In talks", "4200000000", 30),
    ("Müller & Söhne", "Maintenance contract", "Renewals", "Renewed", "24000", -10),
    ("Nevsky Consulting", "Partner licence", "Renewals", "Cancelled", "900000", -15),
]


def _pipeline(name: str, stages: list[dict[str, object]], *, is_default: bool) -> Pipeline:
    pipeline = Pipeline.objects.create(name=name, is_default=is_default)
    for order, row in enumerate(stages, start=1):
        Stage.objects.create(
            pipeline=pipeline,
            order=order,
            name=str(row["name"]),
            probability=int(str(row["probability"])),
            is_won=bool(row.get("is_won", False)),
            is_lost=bool(row.get("is_lost", False)),
        )
    return pipeline


def _roles(users: dict[str, User]) -> None:
    """CRM roles, so the sales people see and work on their clients (admin sees everything)."""
    models = ["organization", "person", "deal", "activity", "quote", "campaign"]
    work = [f"crm.{action}_{m}" for m in models for action in ("view", "add", "change")]
    configuration = ["crm.view_pipeline", "crm.view_stage", "crm.view_customfield", "crm.view_tag"]
    # Sales people bring their own spreadsheets in (and keep their column mappings).
    work += ["imports.view_importbatch", "imports.add_importbatch", "imports.add_importmapping"]
    head = role_create(
        name="Sales manager",
        scope=Scope.DEPARTMENT,
        permissions=[*work, *(f"crm.delete_{m}" for m in models), *configuration],
        description="Works on every client of the department below them.",
    )
    seller = role_create(
        name="Sales representative",
        scope=Scope.OWN,
        permissions=[*work, *configuration],
        description="Works on their own clients.",
    )
    service = role_create(
        name="Client directory",
        scope=Scope.ALL,
        permissions=["crm.view_organization", "crm.view_person"],
        description="Looks clients up.",
    )
    for username, role in (
        ("jan.kowalski", head),
        ("katharina.vogel", head),
        ("anna.nowak", seller),
        ("lukas.becker", seller),
    ):
        if username in users:
            users[username].roles.add(role)
    for user in users.values():
        if user.department and user.department.name == "Customer Service":
            user.roles.add(service)


def _custom_fields() -> None:
    custom_field_create(
        target="organization",
        key="customer_tier",
        label="Customer tier",
        field_type="choice",
        options=["A", "B", "C"],
        order=1,
    )
    custom_field_create(
        target="organization",
        key="annual_revenue",
        label="Annual revenue",
        field_type="money",
        order=2,
    )
    custom_field_create(
        target="person", key="newsletter", label="Gets the newsletter", field_type="boolean"
    )


def _client(spec: DemoClient, owner: User, number: int, tags: dict[str, Tag]) -> Organization:
    organization = Organization.objects.create(
        legal_name=spec.legal_name,
        short_name=spec.short_name,
        legal_form=spec.legal_form,
        industry=spec.industry,
        size=spec.size,
        status=spec.status,
        website=f"https://www.{spec.domain}",
        owner=owner,
        normalized_name=normalize_name(spec.legal_name),
        custom_data=custom_data_clean(
            target="organization",
            data={"customer_tier": "A" if spec.tags else "B"}
            if spec.status in {"customer", "partner"}
            else {},
        ),
    )
    organization.tags.set([tags[name] for name in spec.tags])
    kind, make = TAX_ID[spec.country]
    TaxId.objects.create(
        organization=organization, country=spec.country, kind=kind, value=make(48213 * number)
    )
    Email.objects.create(organization=organization, address=f"info@{spec.domain}", is_primary=True)
    Phone.objects.create(organization=organization, number=spec.phone, is_primary=True)
    Address.objects.create(
        organization=organization,
        kind="registered",
        street=spec.street,
        postal_code=spec.postal_code,
        city=spec.city,
        country=spec.country,
    )
    for index, who in enumerate(spec.people):
        person = Person.objects.create(
            first_name=who.first_name,
            last_name=who.last_name,
            position=who.position,
            language=who.language,
            owner=owner,
            normalized_name=normalize_name(f"{who.first_name} {who.last_name}", legal_forms=False),
            custom_data=custom_data_clean(target="person", data={"newsletter": index == 0}),
        )
        Employment.objects.create(person=person, organization=organization, role=who.position)
        Email.objects.create(person=person, address=f"{who.email}@{spec.domain}", is_primary=True)
        Phone.objects.create(person=person, number=who.phone, is_primary=True)
    return organization


def _deals(
    clients: dict[str, Organization], pipelines: dict[str, Pipeline], now: datetime
) -> list[Deal]:
    deals = []
    stages = {
        (stage.pipeline.name, stage.name): stage
        for stage in Stage.objects.select_related("pipeline")
    }
    for short_name, title, pipeline_name, stage_name, amount, days in DEALS:
        organization = clients[short_name]
        stage = stages[(pipeline_name, stage_name)]
        status = (
            DealStatus.WON
            if stage.is_won
            else DealStatus.LOST
            if stage.is_lost
            else DealStatus.OPEN
        )
        country = organization.addresses.all()[0].country
        deals.append(
            Deal.objects.create(
                title=title,
                organization=organization,
                person=organization.employments.all()[0].person,
                pipeline=pipelines[pipeline_name],
                stage=stage,
                amount=Decimal(amount),
                currency=CURRENCY[country],
                expected_close=(now + timedelta(days=days)).date(),
                status=status,
                closed_at=now + timedelta(days=days) if status != DealStatus.OPEN else None,
                lost_reason="Chose a cheaper local supplier" if status == DealStatus.LOST else "",
                owner=organization.owner,
            )
        )
    return deals


def _activities(deals: list[Deal], now: datetime) -> int:
    created = 0
    for number, deal in enumerate(deals):
        organization = deal.organization
        if organization is None:
            continue
        person = deal.person
        if deal.status == DealStatus.OPEN:
            due = (now + timedelta(days=1 + number % 6)).replace(
                hour=9 + number % 7, minute=0, second=0, microsecond=0
            )
            kind = [ActivityKind.CALL, ActivityKind.MEETING, ActivityKind.TASK][number % 3]
            Activity.objects.create(
                kind=kind,
                subject={
                    ActivityKind.CALL: f"Follow-up call: {deal.title}",
                    ActivityKind.MEETING: f"Meeting with {organization}",
                    ActivityKind.TASK: f"Prepare offer for {organization}",
                }[kind],
                organization=organization,
                person=person,
                deal=deal,
                owner=deal.owner,
                due_at=due,
                ends_at=due + timedelta(hours=1) if kind == ActivityKind.MEETING else None,
                reminder_at=due - timedelta(minutes=30),
            )
            created += 1
        done = now - timedelta(days=3 + number % 10, hours=number % 5)
        Activity.objects.create(
            kind=ActivityKind.CALL if number % 2 else ActivityKind.EMAIL,
            subject=f"First contact about {deal.title}",
            organization=organization,
            person=person,
            deal=deal,
            owner=deal.owner,
            due_at=done,
            done_at=done,
            outcome="Reached" if number % 2 else "Sent",
            result="Interested; wants a proposal." if deal.status != DealStatus.LOST else "",
        )
        Activity.objects.create(
            kind=ActivityKind.NOTE,
            subject=f"Notes on {organization}",
            description="Decision maker is the managing director; budget set in Q1.",
            organization=organization,
            owner=deal.owner,
            done_at=done + timedelta(hours=1),
        )
        created += 2
    # A weekly recurring task of the head of sales.
    head = deals[0].owner
    Activity.objects.create(
        kind=ActivityKind.TASK,
        subject="Review the pipeline",
        owner=User.objects.filter(username="jan.kowalski").first() or head,
        due_at=(now + timedelta(days=7 - now.weekday())).replace(
            hour=8, minute=0, second=0, microsecond=0
        ),
        recurrence="FREQ=WEEKLY;INTERVAL=1",
    )
    return created + 1


def _quote(deal: Deal, today: date) -> Quote:
    country = deal.organization.addresses.all()[0].country if deal.organization else "DE"
    quote = Quote.objects.create(
        deal=deal,
        number=f"Q-{today.year}-0001",
        currency=deal.currency,
        issued_on=today - timedelta(days=5),
        valid_until=today + timedelta(days=25),
        owner=deal.owner,
        status="sent",
    )
    lines = [
        ("Konvergo licence, 250 seats, 12 months", Decimal("250"), Decimal("240.00")),
        ("Set-up and data migration", Decimal("1"), Decimal("18000.00")),
        ("Training workshop (2 days)", Decimal("2"), Decimal("3000.00")),
    ]
    for position, (description, quantity, price) in enumerate(lines, start=1):
        QuoteLine.objects.create(
            quote=quote,
            position=position,
            description=description,
            quantity=quantity,
            unit_price=price,
            tax_rate=VAT_RATE[country],
        )
    return quote


def _campaign(owner: User, today: date) -> int:
    campaign = campaign_create(
        actor=owner,
        name=f"Spring trade fair {today.year + (1 if today.month > 4 else 0)}",
        description="Invitations to our stand at the spring trade fair.",
        segment={"organization_status": ["customer", "prospect", "partner"], "has_email": True},
        starts_on=today,
        ends_on=today + timedelta(days=60),
    )
    added = campaign_fill_from_segment(campaign=campaign)
    members = list(
        CampaignMember.objects.filter(campaign=campaign).order_by("person__last_name", "pk")
    )
    answers = [
        (CampaignMemberStatus.CONTACTED, ""),
        (CampaignMemberStatus.RESPONDED, "Will visit on the second day."),
        (CampaignMemberStatus.CONVERTED, "Booked a demo at the stand."),
        (CampaignMemberStatus.OPTED_OUT, "No more invitations, please."),
    ]
    for member, (status, response) in zip(members, answers, strict=False):
        member.status = status
        member.response = response
        member.responded_at = timezone.now() if response else None
        member.save()
    return added


@register_demo_step(30, "crm")
def demo_crm(say: Callable[[str], None]) -> None:
    users = {
        u.username: u
        for u in User.objects.filter(department__isnull=False).select_related("department")
    }
    fallback = User.objects.filter(is_superuser=True).order_by("pk").first()
    if not users and fallback is None:
        say("skipped: no people to own clients")
        return
    _roles(users)
    _custom_fields()
    tags = {name: Tag.objects.create(name=name) for name in ("VIP", "Reseller", "Trade fair")}
    clients: dict[str, Organization] = {}
    for number, spec in enumerate(CLIENTS, start=1):
        owner = users.get(spec.owner) or fallback
        assert owner is not None  # noqa: S101  (checked above)
        clients[spec.short_name] = _client(spec, owner, number, tags)
    OrganizationRelation.objects.create(
        source=clients["Nevsky Consulting"], target=clients["Волга Трейд"], kind="partner"
    )
    OrganizationRelation.objects.create(
        source=clients["Bergmann Logistik"], target=clients["Müller & Söhne"], kind="partner"
    )
    clients["Müller & Söhne"].custom_data = custom_data_clean(
        target="organization",
        data={"customer_tier": "A", "annual_revenue": {"amount": "48000000", "currency": "EUR"}},
    )
    clients["Müller & Söhne"].save(update_fields=["custom_data", "updated_at"])
    pipelines = {
        "Sales": _pipeline("Sales", SALES_STAGES, is_default=True),
        "Renewals": _pipeline("Renewals", RENEWAL_STAGES, is_default=False),
    }
    now = timezone.now()
    deals = _deals(clients, pipelines, now)
    activities = _activities(deals, now)
    proposal = next(d for d in deals if d.title == "Document management, 250 seats")
    _quote(proposal, timezone.localdate())
    sales_head = Department.objects.filter(name="Sales").values_list("head", flat=True).first()
    campaign_owner = (sales_head and User.objects.filter(pk=sales_head).first()) or fallback
    members = _campaign(campaign_owner, timezone.localdate()) if campaign_owner else 0
    people = Person.objects.count()
    say(
        f"{len(clients)} clients with {people} contacts, {len(deals)} deals in 2 pipelines, "
        f"{activities} activities, 1 quote, a campaign with {members} members"
    )
