from django.db import models
from django.utils.translation import gettext_lazy as _


class OrganizationStatus(models.TextChoices):
    LEAD = "lead", _("Lead")
    PROSPECT = "prospect", _("Prospect")
    CUSTOMER = "customer", _("Customer")
    FORMER = "former", _("Former customer")
    PARTNER = "partner", _("Partner")


class CompanySize(models.TextChoices):
    MICRO = "micro", _("1-9 employees")
    SMALL = "small", _("10-49 employees")
    MEDIUM = "medium", _("50-249 employees")
    LARGE = "large", _("250+ employees")


class ContactKind(models.TextChoices):
    WORK = "work", _("Work")
    MOBILE = "mobile", _("Mobile")
    HOME = "home", _("Home")
    OTHER = "other", _("Other")


class AddressKind(models.TextChoices):
    REGISTERED = "registered", _("Registered office")
    BILLING = "billing", _("Billing")
    SHIPPING = "shipping", _("Shipping")
    OFFICE = "office", _("Office")


class OrganizationRelationKind(models.TextChoices):
    PARENT = "parent", _("Parent company of")
    BRANCH = "branch", _("Branch of")
    PARTNER = "partner", _("Partner of")


class ActivityKind(models.TextChoices):
    CALL = "call", _("Call")
    MEETING = "meeting", _("Meeting")
    EMAIL = "email", _("E-mail")
    NOTE = "note", _("Note")
    TASK = "task", _("Task")


class DealStatus(models.TextChoices):
    OPEN = "open", _("Open")
    WON = "won", _("Won")
    LOST = "lost", _("Lost")


class QuoteKind(models.TextChoices):
    QUOTE = "quote", _("Quote")
    PROFORMA = "proforma", _("Pro-forma invoice")


class QuoteStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SENT = "sent", _("Sent")
    ACCEPTED = "accepted", _("Accepted")
    DECLINED = "declined", _("Declined")


class CampaignMemberStatus(models.TextChoices):
    PLANNED = "planned", _("Planned")
    CONTACTED = "contacted", _("Contacted")
    RESPONDED = "responded", _("Responded")
    CONVERTED = "converted", _("Converted")
    OPTED_OUT = "opted_out", _("Opted out")


class CustomFieldType(models.TextChoices):
    TEXT = "text", _("Text")
    NUMBER = "number", _("Number")
    DATE = "date", _("Date")
    CHOICE = "choice", _("Choice")
    MULTI_CHOICE = "multi_choice", _("Several choices")
    BOOLEAN = "boolean", _("Yes/no")
    MONEY = "money", _("Money")
    LINK = "link", _("Link to a record")


class CustomFieldTarget(models.TextChoices):
    ORGANIZATION = "organization", _("Organisations")
    PERSON = "person", _("Persons")
    DEAL = "deal", _("Deals")
