"""The shared directory of organisations and persons, and the sales work around them.

Every other area (tickets, documents, processes) points at these records. Records that belong to
someone name their owner in `VISIBILITY_OWNER` (see org.permissions.visible).
"""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from konvergo.core.models import BaseModel
from konvergo.crm import choices

USER = settings.AUTH_USER_MODEL


class Tag(BaseModel):
    name = models.CharField(_("name"), max_length=60, unique=True)
    color = models.CharField(_("colour"), max_length=7, default="#6c757d")
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        verbose_name = _("tag")
        verbose_name_plural = _("tags")

    def __str__(self) -> str:
        return self.name


class Organization(BaseModel):
    """A legal entity: client, prospect, partner or supplier."""

    legal_name = models.CharField(_("legal name"), max_length=255)
    short_name = models.CharField(_("short name"), max_length=120, blank=True)
    legal_form = models.CharField(_("legal form"), max_length=60, blank=True)
    industry = models.CharField(_("industry"), max_length=120, blank=True)
    size = models.CharField(
        _("size"), max_length=10, choices=choices.CompanySize.choices, blank=True
    )
    website = models.URLField(_("website"), blank=True)
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=choices.OrganizationStatus.choices,
        default=choices.OrganizationStatus.LEAD,
        db_index=True,
    )
    owner = models.ForeignKey(
        USER, on_delete=models.PROTECT, related_name="owned_organizations", verbose_name=_("owner")
    )
    tags = models.ManyToManyField(
        Tag, blank=True, related_name="organizations", verbose_name=_("tags")
    )
    notes = models.TextField(_("notes"), blank=True)
    custom_data = models.JSONField(_("custom fields"), default=dict, blank=True)
    # Lower-cased name without legal form and punctuation, for duplicate detection and search.
    normalized_name = models.CharField(max_length=255, db_index=True, editable=False, default="")
    history = HistoricalRecords(m2m_fields=[tags])

    VISIBILITY_OWNER: ClassVar[str] = "owner"

    class Meta:
        ordering = ["legal_name"]
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")

    def __str__(self) -> str:
        return self.short_name or self.legal_name


class Person(BaseModel):
    first_name = models.CharField(_("first name"), max_length=120, blank=True)
    last_name = models.CharField(_("last name"), max_length=120)
    position = models.CharField(_("position"), max_length=120, blank=True)
    birthday = models.DateField(_("birthday"), null=True, blank=True)
    language = models.CharField(_("language"), max_length=8, blank=True)
    owner = models.ForeignKey(
        USER, on_delete=models.PROTECT, related_name="owned_persons", verbose_name=_("owner")
    )
    tags = models.ManyToManyField(Tag, blank=True, related_name="persons", verbose_name=_("tags"))
    notes = models.TextField(_("notes"), blank=True)
    custom_data = models.JSONField(_("custom fields"), default=dict, blank=True)
    normalized_name = models.CharField(max_length=255, db_index=True, editable=False, default="")
    history = HistoricalRecords(m2m_fields=[tags])

    VISIBILITY_OWNER: ClassVar[str] = "owner"

    class Meta:
        ordering = ["last_name", "first_name"]
        verbose_name = _("person")
        verbose_name_plural = _("persons")

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class TaxId(BaseModel):
    """A tax or registration number of an organisation (VAT, NIP, INN, KRS, ...)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="tax_ids")
    country = models.CharField(_("country"), max_length=2)
    kind = models.CharField(_("kind"), max_length=20, help_text=_("e.g. VAT, NIP, INN, KRS"))
    value = models.CharField(_("number"), max_length=40, db_index=True)  # normalised (stdnum)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("tax id")
        verbose_name_plural = _("tax ids")
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "country", "kind"], name="crm_taxid_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.country} {self.kind} {self.value}"


class ContactPoint(BaseModel):
    """Shared base of e-mail addresses and phones: belongs to an organisation or a person."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    person = models.ForeignKey(
        Person, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    kind = models.CharField(
        _("kind"),
        max_length=10,
        choices=choices.ContactKind.choices,
        default=choices.ContactKind.WORK,
    )
    is_primary = models.BooleanField(_("primary"), default=False)

    class Meta:
        abstract = True


class Email(ContactPoint):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, null=True, blank=True, related_name="emails"
    )
    person = models.ForeignKey(
        Person, on_delete=models.CASCADE, null=True, blank=True, related_name="emails"
    )
    address = models.EmailField(_("e-mail"), db_index=True)  # stored lower-case
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("e-mail address")
        verbose_name_plural = _("e-mail addresses")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(organization__isnull=False) | models.Q(person__isnull=False),
                name="crm_email_has_owner",
            )
        ]

    def __str__(self) -> str:
        return self.address


class Phone(ContactPoint):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, null=True, blank=True, related_name="phones"
    )
    person = models.ForeignKey(
        Person, on_delete=models.CASCADE, null=True, blank=True, related_name="phones"
    )
    number = models.CharField(_("phone"), max_length=20, db_index=True)  # E.164 via phonenumbers
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("phone")
        verbose_name_plural = _("phones")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(organization__isnull=False) | models.Q(person__isnull=False),
                name="crm_phone_has_owner",
            )
        ]

    def __str__(self) -> str:
        return self.number


class Address(BaseModel):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, null=True, blank=True, related_name="addresses"
    )
    person = models.ForeignKey(
        Person, on_delete=models.CASCADE, null=True, blank=True, related_name="addresses"
    )
    kind = models.CharField(
        _("kind"),
        max_length=12,
        choices=choices.AddressKind.choices,
        default=choices.AddressKind.OFFICE,
    )
    street = models.CharField(_("street"), max_length=255, blank=True)
    postal_code = models.CharField(_("postal code"), max_length=20, blank=True)
    city = models.CharField(_("city"), max_length=120, blank=True)
    region = models.CharField(_("region"), max_length=120, blank=True)
    country = models.CharField(_("country"), max_length=2, blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("address")
        verbose_name_plural = _("addresses")

    def __str__(self) -> str:
        return ", ".join(
            p for p in (self.street, f"{self.postal_code} {self.city}".strip(), self.country) if p
        )


class Employment(BaseModel):
    """A person works at (or for) an organisation, in a role."""

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="employments")
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="employments"
    )
    role = models.CharField(_("role"), max_length=120, blank=True)
    is_primary = models.BooleanField(_("main organisation"), default=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("employment")
        verbose_name_plural = _("employments")
        constraints = [
            models.UniqueConstraint(fields=["person", "organization"], name="crm_employment_once")
        ]

    def __str__(self) -> str:
        return f"{self.person} @ {self.organization}"


class OrganizationRelation(BaseModel):
    source = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="relations_out")
    target = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="relations_in")
    kind = models.CharField(
        _("kind"), max_length=10, choices=choices.OrganizationRelationKind.choices
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("organisation relation")
        verbose_name_plural = _("organisation relations")
        constraints = [
            models.UniqueConstraint(fields=["source", "target", "kind"], name="crm_orgrel_once"),
            models.CheckConstraint(
                condition=~models.Q(source=models.F("target")), name="crm_orgrel_not_self"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source} {self.kind} {self.target}"


class Pipeline(BaseModel):
    name = models.CharField(_("name"), max_length=120, unique=True)
    is_default = models.BooleanField(_("default"), default=False)
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        verbose_name = _("pipeline")
        verbose_name_plural = _("pipelines")

    def __str__(self) -> str:
        return self.name


class Stage(BaseModel):
    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="stages")
    name = models.CharField(_("name"), max_length=120)
    order = models.PositiveSmallIntegerField(_("order"))
    probability = models.PositiveSmallIntegerField(_("probability %"), default=0)
    is_won = models.BooleanField(_("won stage"), default=False)
    is_lost = models.BooleanField(_("lost stage"), default=False)
    history = HistoricalRecords()

    class Meta:
        ordering = ["pipeline", "order"]
        verbose_name = _("stage")
        verbose_name_plural = _("stages")
        constraints = [
            models.UniqueConstraint(fields=["pipeline", "order"], name="crm_stage_order"),
            models.CheckConstraint(
                condition=models.Q(probability__lte=100), name="crm_stage_probability"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.pipeline}: {self.name}"


class Deal(BaseModel):
    title = models.CharField(_("title"), max_length=255)
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, null=True, blank=True, related_name="deals"
    )
    person = models.ForeignKey(
        Person, on_delete=models.SET_NULL, null=True, blank=True, related_name="deals"
    )
    pipeline = models.ForeignKey(Pipeline, on_delete=models.PROTECT, related_name="deals")
    stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="deals")
    amount = models.DecimalField(
        _("amount"),
        max_digits=14,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0"))],
    )
    currency = models.CharField(_("currency"), max_length=3, default="EUR")
    expected_close = models.DateField(_("expected close"), null=True, blank=True)
    status = models.CharField(
        _("status"),
        max_length=6,
        choices=choices.DealStatus.choices,
        default=choices.DealStatus.OPEN,
        db_index=True,
    )
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    lost_reason = models.CharField(_("reason lost"), max_length=255, blank=True)
    owner = models.ForeignKey(
        USER, on_delete=models.PROTECT, related_name="owned_deals", verbose_name=_("owner")
    )
    custom_data = models.JSONField(_("custom fields"), default=dict, blank=True)
    history = HistoricalRecords()

    VISIBILITY_OWNER: ClassVar[str] = "owner"

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("deal")
        verbose_name_plural = _("deals")
        indexes = [models.Index(fields=["pipeline", "stage", "status"])]

    def __str__(self) -> str:
        return self.title


class Activity(BaseModel):
    """A call, meeting, e-mail, note or task about a client: planned (due) or done."""

    kind = models.CharField(_("kind"), max_length=8, choices=choices.ActivityKind.choices)
    subject = models.CharField(_("subject"), max_length=255)
    description = models.TextField(_("description"), blank=True)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, null=True, blank=True, related_name="activities"
    )
    person = models.ForeignKey(
        Person, on_delete=models.CASCADE, null=True, blank=True, related_name="activities"
    )
    deal = models.ForeignKey(
        Deal, on_delete=models.SET_NULL, null=True, blank=True, related_name="activities"
    )
    owner = models.ForeignKey(
        USER, on_delete=models.PROTECT, related_name="crm_activities", verbose_name=_("responsible")
    )
    due_at = models.DateTimeField(_("due"), null=True, blank=True, db_index=True)
    ends_at = models.DateTimeField(_("ends"), null=True, blank=True)
    done_at = models.DateTimeField(_("done at"), null=True, blank=True)
    outcome = models.CharField(_("outcome"), max_length=120, blank=True)
    result = models.TextField(_("result notes"), blank=True)
    reminder_at = models.DateTimeField(_("remind at"), null=True, blank=True, db_index=True)
    reminded_at = models.DateTimeField(null=True, blank=True, editable=False)
    recurrence = models.CharField(
        _("repeats"),
        max_length=200,
        blank=True,
        help_text=_("RFC 5545 rule, e.g. FREQ=WEEKLY;BYDAY=MO"),
    )
    archived = models.BooleanField(_("archived"), default=False, db_index=True)
    history = HistoricalRecords()

    VISIBILITY_OWNER: ClassVar[str] = "owner"

    class Meta:
        ordering = ["-due_at", "-created_at"]
        verbose_name = _("activity")
        verbose_name_plural = _("activities")

    def __str__(self) -> str:
        return self.subject


class Quote(BaseModel):
    """A quote or pro-forma invoice for a deal; totals come from its lines."""

    deal = models.ForeignKey(Deal, on_delete=models.CASCADE, related_name="quotes")
    kind = models.CharField(
        _("kind"), max_length=8, choices=choices.QuoteKind.choices, default=choices.QuoteKind.QUOTE
    )
    number = models.CharField(_("number"), max_length=40, unique=True)
    status = models.CharField(
        _("status"),
        max_length=9,
        choices=choices.QuoteStatus.choices,
        default=choices.QuoteStatus.DRAFT,
    )
    currency = models.CharField(_("currency"), max_length=3)
    issued_on = models.DateField(_("issued on"))
    valid_until = models.DateField(_("valid until"), null=True, blank=True)
    owner = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="owned_quotes")
    history = HistoricalRecords()

    VISIBILITY_OWNER: ClassVar[str] = "owner"

    class Meta:
        ordering = ["-issued_on", "-number"]
        verbose_name = _("quote")
        verbose_name_plural = _("quotes")

    def __str__(self) -> str:
        return self.number


class QuoteLine(BaseModel):
    quote = models.ForeignKey(Quote, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveSmallIntegerField(_("position"))
    description = models.CharField(_("description"), max_length=255)
    quantity = models.DecimalField(
        _("quantity"), max_digits=12, decimal_places=3, validators=[MinValueValidator(Decimal("0"))]
    )
    unit_price = models.DecimalField(
        _("unit price"),
        max_digits=14,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0"))],
    )
    tax_rate = models.DecimalField(
        _("tax %"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0"))],
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["quote", "position"]
        verbose_name = _("quote line")
        verbose_name_plural = _("quote lines")

    def __str__(self) -> str:
        return self.description


class OwnershipTransfer(BaseModel):
    """A client handed from one owner to another, with what went along."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, null=True, blank=True, related_name="transfers"
    )
    person = models.ForeignKey(
        Person, on_delete=models.CASCADE, null=True, blank=True, related_name="transfers"
    )
    from_user = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    to_user = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField(_("reason"))
    moved = models.JSONField(_("moved along"), default=dict, blank=True)  # {"deals": n, ...}
    by = models.ForeignKey(USER, on_delete=models.SET_NULL, null=True, related_name="+")

    HISTORY_EXEMPT: ClassVar[bool] = True  # itself an append-only record of a change

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("ownership transfer")
        verbose_name_plural = _("ownership transfers")

    def __str__(self) -> str:
        return f"{self.from_user} -> {self.to_user}"


class Campaign(BaseModel):
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    segment = models.JSONField(_("segment filter"), default=dict, blank=True)
    starts_on = models.DateField(_("starts"), null=True, blank=True)
    ends_on = models.DateField(_("ends"), null=True, blank=True)
    owner = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="owned_campaigns")
    history = HistoricalRecords()

    VISIBILITY_OWNER: ClassVar[str] = "owner"

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")

    def __str__(self) -> str:
        return self.name


class CampaignMember(BaseModel):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="members")
    person = models.ForeignKey(
        Person, on_delete=models.CASCADE, related_name="campaign_memberships"
    )
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=choices.CampaignMemberStatus.choices,
        default=choices.CampaignMemberStatus.PLANNED,
    )
    response = models.TextField(_("response"), blank=True)
    responded_at = models.DateTimeField(_("responded at"), null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("campaign member")
        verbose_name_plural = _("campaign members")
        constraints = [
            models.UniqueConstraint(fields=["campaign", "person"], name="crm_campaign_member_once")
        ]

    def __str__(self) -> str:
        return f"{self.person} in {self.campaign}"


class CustomField(BaseModel):
    """A field administrators add to organisations, persons or deals without code."""

    target = models.CharField(
        _("applies to"), max_length=12, choices=choices.CustomFieldTarget.choices
    )
    key = models.SlugField(_("key"), max_length=60)
    label = models.CharField(_("label"), max_length=120)
    field_type = models.CharField(_("type"), max_length=12, choices=choices.CustomFieldType.choices)
    options = models.JSONField(_("choices"), default=list, blank=True)
    required = models.BooleanField(_("required"), default=False)
    order = models.PositiveSmallIntegerField(_("order"), default=0)
    history = HistoricalRecords()

    class Meta:
        ordering = ["target", "order", "label"]
        verbose_name = _("custom field")
        verbose_name_plural = _("custom fields")
        constraints = [
            models.UniqueConstraint(fields=["target", "key"], name="crm_customfield_key")
        ]

    def __str__(self) -> str:
        return self.label


class SavedView(BaseModel):
    """A list's filters, sorting and columns saved by a user under a name."""

    user = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="crm_saved_views")
    list_name = models.CharField(_("list"), max_length=40)
    name = models.CharField(_("name"), max_length=120)
    query = models.CharField(_("query string"), max_length=2000)

    HISTORY_EXEMPT: ClassVar[bool] = True  # a personal preference, not a business record

    class Meta:
        ordering = ["list_name", "name"]
        verbose_name = _("saved view")
        verbose_name_plural = _("saved views")
        constraints = [
            models.UniqueConstraint(fields=["user", "list_name", "name"], name="crm_savedview_once")
        ]

    def __str__(self) -> str:
        return self.name
