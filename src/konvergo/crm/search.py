"""Global search over the shared directory: organisation and person names, e-mails, phones and
tax ids, as one ranked list of the records the user may see.

How a query runs:

1. Exact look-ups on indexed columns for what the query could be as a whole: an e-mail
   address, a phone number (E.164, also typed with 00 instead of +), a tax id (any spacing,
   with or without its country prefix). These hits rank first (score 3).
2. Substring matching of every word (or its accent-free form), and of the query's digits for
   phones typed nationally ("030 ...", "(0) 601 ...") and tax ids:
   - PostgreSQL: ILIKE on the texts indexed by the GIN trigram indexes of migration
     crm 0002_search, shortest texts first;
   - SQLite: the FTS5 trigram table `crm_search_index` of the same migration, which database
     triggers keep in step with the source tables, best FTS rank first.
   Queries whose words are all shorter than three characters ("Mü") match the start of the
   normalised name through its b-tree index instead (a SQLite without FTS5 trigrams scans).
   The user's visibility (`org.permissions.visible`) is part of this query, so records the
   user may not see never take up the candidate slots.
3. The pool of candidates is ranked in Python by how similar a name (or the matched value) is
   to the query: equal, then a whole word, then a word's start, then a fragment. Only the
   records that make the cut are loaded (one query per kind, persons with their employer).
"""

from __future__ import annotations

import importlib
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from functools import lru_cache
from typing import Any
from uuid import UUID

import phonenumbers
from django.db import DEFAULT_DB_ALIAS, connection, connections, models, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Prefetch, Q
from django.utils.translation import gettext as _

from konvergo.core.selectors import sqlite_table_exists
from konvergo.crm.models import Email, Employment, Organization, Person, Phone, TaxId
from konvergo.org.permissions import visible

FTS_TABLE = "crm_search_index"
MAX_QUERY_LENGTH = 100
MIN_TERM = 3  # the trigram index cannot serve shorter substrings
EXACT_SCORE = 3.0
NAME_BASE = 1.0
PART_SEPARATOR = " | "
FIELD_LABELS = {"email": "e-mail", "phone": "phone", "tax_id": "tax id", "name": "name"}
MODELS: dict[str, type[Organization] | type[Person]] = {
    "organization": Organization,
    "person": Person,
}


@dataclass(frozen=True)
class SearchHit:
    kind: str  # "organization" | "person"
    record: Organization | Person
    title: str
    detail: str
    matched: str  # what matched: "name", "email", "phone" or "tax_id"
    matched_value: str
    score: float

    @property
    def public_id(self) -> UUID:
        return self.record.public_id


# --- the query ------------------------------------------------------------------------------


@lru_cache(maxsize=8192)
def fold(text: str) -> str:
    """Lower-case without accents: what names are compared by ("Zielińska" -> "zielinska")."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if unicodedata.category(c) != "Mn")


@dataclass(frozen=True)
class ParsedQuery:
    text: str  # as typed, trimmed
    words: tuple[str, ...]  # lower-case; none when the query is a phone number
    email: str = ""  # the whole query as an e-mail address
    phones: tuple[str, ...] = ()  # E.164 forms the whole query may stand for
    digits: str = ""  # the digits of a phone-like query, without leading zeros
    tax_ids: tuple[str, ...] = ()  # compact forms of a tax-id-like query
    fragments: tuple[str, ...] = field(default=())  # the substrings searched besides words

    @property
    def long_words(self) -> list[str]:
        return [w for w in self.words if len(w) >= MIN_TERM]


PHONE_LIKE = re.compile(r"[+(]?[\d\s().\-/]+")
TAX_LIKE = re.compile(r"[A-Za-z]{0,3}[\s.\-/]*\d[\dA-Za-z\s.\-/]*")


def _phone_forms(text: str, digits: str) -> tuple[str, ...]:
    """E.164 numbers the query may be: with "+" or "00" it names its country itself."""
    if len(digits) < 6:
        return ()
    international = ""
    if text.startswith("+"):
        international = "+" + digits
    elif digits.startswith("00"):
        international = "+" + digits[2:]
    if not international:
        return ()
    try:
        parsed = phonenumbers.parse(international, None)
    except phonenumbers.NumberParseException:
        return (international,)
    formatted = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return tuple(dict.fromkeys([formatted, international]))


def parse_query(query: str) -> ParsedQuery | None:
    text = " ".join(query.split())[:MAX_QUERY_LENGTH]
    if not text:
        return None
    words = tuple(dict.fromkeys(text.casefold().split()))
    email = text.lower() if "@" in text and " " not in text else ""
    digits_all = re.sub(r"\D", "", text)
    phones: tuple[str, ...] = ()
    digits = ""
    if PHONE_LIKE.fullmatch(text) and len(digits_all) >= MIN_TERM:
        phones = _phone_forms(text, digits_all)
        digits = digits_all.lstrip("0")  # trunk prefix ("030 ...") or "00" (international)
        words = ()  # "(0) 601 ..." is a number, not words of a name
    tax_ids: tuple[str, ...] = ()
    if TAX_LIKE.fullmatch(text) and len(digits_all) >= 5:
        compact = re.sub(r"[\s.\-/]", "", text).upper()
        forms = [compact]
        if re.match(r"[A-Z]{2}\d", compact):
            forms.append(compact[2:])  # "DE136695976" is stored as 136695976 for DE VAT
        tax_ids = tuple(forms)
    fragments = tuple(
        f for f in dict.fromkeys([digits, *(t.lower() for t in tax_ids)]) if len(f) >= MIN_TERM
    )
    return ParsedQuery(
        text=text,
        words=words,
        email=email,
        phones=phones,
        digits=digits,
        tax_ids=tax_ids,
        fragments=fragments,
    )


# --- candidates -----------------------------------------------------------------------------


@dataclass
class Candidate:
    kind: str
    record_id: int
    field: str
    value: str  # what matched; several forms of a name are joined by " | "
    exact: bool = False

    @property
    def parts(self) -> list[str]:
        return [part for part in self.value.split(PART_SEPARATOR) if part] or [""]


def _scopes(user: Any) -> dict[str, models.QuerySet[Any]]:
    """The visible queryset per kind, left out when the user may see none of that kind."""
    scopes: dict[str, models.QuerySet[Any]] = {}
    for kind, model in MODELS.items():
        queryset = visible(user, model.objects.all())
        if not queryset.query.is_empty():
            scopes[kind] = queryset
    return scopes


def _exact_candidates(parsed: ParsedQuery) -> list[Candidate]:
    found: list[Candidate] = []
    rows: list[tuple[str, int | None, int | None, str]] = []
    if parsed.email:
        rows += [
            ("email", person, organization, value)
            for person, organization, value in Email.objects.filter(
                address=parsed.email
            ).values_list("person_id", "organization_id", "address")
        ]
    if parsed.phones:
        rows += [
            ("phone", person, organization, value)
            for person, organization, value in Phone.objects.filter(
                number__in=parsed.phones
            ).values_list("person_id", "organization_id", "number")
        ]
    for field_name, person_id, organization_id, value in rows:
        kind, record_id = (
            ("person", person_id) if person_id is not None else ("organization", organization_id)
        )
        if record_id is not None:
            found.append(Candidate(kind, record_id, field_name, value, exact=True))
    if parsed.tax_ids:
        found += [
            Candidate("organization", organization_id, "tax_id", value, exact=True)
            for organization_id, value in TaxId.objects.filter(
                value__in=parsed.tax_ids
            ).values_list("organization_id", "value")
        ]
    return found


def _visibility_sql(
    scopes: dict[str, models.QuerySet[Any]], kind_column: str, id_column: str
) -> tuple[str, list[Any]]:
    """SQL (and its parameters) keeping rows whose record the user may see; "" = all."""
    if set(scopes) == set(MODELS) and all(not qs.query.where for qs in scopes.values()):
        return "", []
    parts, params = [], []
    for kind, queryset in scopes.items():
        if not queryset.query.where:
            parts.append(f"{kind_column} = %s")
            params.append(kind)
            continue
        sql, sub_params = queryset.order_by().values("pk").query.sql_with_params()
        parts.append(f"({kind_column} = %s AND {id_column} IN ({sql}))")
        params += [kind, *sub_params]
    return "(" + " OR ".join(parts) + ")", params


def _fts_phrase(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def fts_expression(parsed: ParsedQuery) -> str:
    """The FTS5 query: every long word (or its accent-free form), or one of the fragments."""
    groups = []
    for word in parsed.long_words:
        alternatives = dict.fromkeys([word, fold(word)])
        groups.append(
            "(" + " OR ".join(_fts_phrase(a) for a in alternatives if len(a) >= MIN_TERM) + ")"
        )
    options = []
    if groups:
        options.append("(" + " AND ".join(groups) + ")")
    options += [_fts_phrase(f) for f in parsed.fragments]
    return " OR ".join(options)


def fts_available(db: BaseDatabaseWrapper = connection) -> bool:
    """Whether this SQLite database has the trigram index (remembered once it has)."""
    return sqlite_table_exists(FTS_TABLE, db)


def _sqlite_candidates(
    parsed: ParsedQuery, scopes: dict[str, models.QuerySet[Any]], limit: int
) -> list[Candidate] | None:
    expression = fts_expression(parsed)
    if not expression or not fts_available():
        return None
    where, params = _visibility_sql(scopes, "kind", "record_id")
    sql = (
        f"SELECT kind, record_id, field, text FROM {FTS_TABLE} "  # noqa: S608  (constants)
        f"WHERE {FTS_TABLE} MATCH %s {'AND ' + where if where else ''} "
        "ORDER BY rank LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [expression, *params, limit])
        rows = cursor.fetchall()
    return [Candidate(kind, int(record_id), name, text) for kind, record_id, name, text in rows]


def _like(term: str) -> str:
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


# The expressions of the trigram indexes (crm migration 0002_search), repeated verbatim: an
# expression index serves only the very same expression.
PG_NAMES = {
    "organization": (
        "crm_organization",
        "(r.legal_name::text || ' | ' || r.short_name::text || ' | ' || r.normalized_name::text)",
    ),
    "person": (
        "crm_person",
        "(r.first_name::text || ' ' || r.last_name::text || ' | ' || r.normalized_name::text)",
    ),
}


def _postgres_candidates(
    parsed: ParsedQuery, scopes: dict[str, models.QuerySet[Any]], limit: int
) -> list[Candidate]:
    """One UNION ALL over the trigram-indexed texts; every word (or its accent-free form) must
    occur. Shortest texts first, a cheap stand-in for similarity: computing similarity() for
    thousands of rows that contain a common surname costs more than the index lookups, and the
    pool is re-ranked in Python anyway."""
    words = parsed.long_words or list(parsed.words)
    selects: list[str] = []
    params: list[Any] = []

    def every_word(expression: str, terms: Sequence[str]) -> tuple[str, list[Any]]:
        clauses, values = [], []
        for term in terms:
            alternatives = list(dict.fromkeys([term, fold(term)]))
            clauses.append("(" + " OR ".join(f"{expression} ILIKE %s" for _a in alternatives) + ")")
            values += [_like(a) for a in alternatives]
        return " AND ".join(clauses), values

    def visible_where(kind: str, id_sql: str) -> tuple[str, list[Any]]:
        if kind not in scopes:
            return "FALSE", []
        queryset = scopes[kind]
        if not queryset.query.where:
            return "TRUE", []
        sql, sub = queryset.order_by().values("pk").query.sql_with_params()
        return f"{id_sql} IN ({sql})", list(sub)

    for kind, (table, expression) in PG_NAMES.items():
        if kind not in scopes or not words:
            continue
        match, match_params = every_word(expression, words)
        seen, seen_params = visible_where(kind, "r.id")
        selects.append(
            f"SELECT %s, r.id, 'name', {expression}, length({expression}) "  # noqa: S608
            f"FROM {table} r WHERE {match} AND {seen}"
        )
        params += [kind, *match_params, *seen_params]

    def contact_select(table: str, column: str, field_name: str, terms: Sequence[str]) -> None:
        """E-mails or phones containing every term, as hits on the person or organisation."""
        org_seen, org_params = visible_where("organization", "r.organization_id")
        person_seen, person_params = visible_where("person", "r.person_id")
        match, match_params = every_word(f"r.{column}", terms)
        selects.append(
            "SELECT CASE WHEN r.person_id IS NOT NULL THEN 'person' ELSE 'organization' END, "  # noqa: S608
            f"COALESCE(r.person_id, r.organization_id), %s, r.{column}, length(r.{column}) "
            f"FROM {table} r WHERE {match} AND "
            f"((r.person_id IS NOT NULL AND {person_seen}) OR "
            f"(r.person_id IS NULL AND {org_seen}))"
        )
        params.extend([field_name, *match_params, *person_params, *org_params])

    if parsed.long_words:  # like the SQLite index: every word somewhere in the address
        contact_select("crm_email", "address", "email", parsed.long_words)
    if len(parsed.digits) >= MIN_TERM:
        contact_select("crm_phone", "number", "phone", [parsed.digits])
    if "organization" in scopes:
        forms = [form for form in parsed.tax_ids if len(form) >= MIN_TERM]
        if forms:
            org_seen, org_params = visible_where("organization", "r.organization_id")
            selects.append(
                "SELECT 'organization', r.organization_id, 'tax_id', r.value, length(r.value) "
                "FROM crm_taxid r WHERE ("
                + " OR ".join("r.value ILIKE %s" for _form in forms)
                + f") AND {org_seen}"
            )
            params += [*(_like(form) for form in forms), *org_params]
    if not selects:
        return []
    sql = " UNION ALL ".join(selects) + " ORDER BY 5, 4 LIMIT %s"
    # The planner underrates ILIKE on multibyte text and, for a common word, scans whole tables
    # (180 ms at 100,000 contacts instead of 20 through the trigram indexes): no sequential
    # scans for this one statement, the previous setting restored inside the same transaction.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('enable_seqscan'), set_config('enable_seqscan', 'off', true)"
        )
        row = cursor.fetchone()
        cursor.execute(sql, [*params, limit])
        rows = cursor.fetchall()
        cursor.execute("SELECT set_config('enable_seqscan', %s, true)", [row[0] if row else "on"])
    return [Candidate(kind, int(rid), name, value) for kind, rid, name, value, _order in rows]


def _prefix_candidates(
    parsed: ParsedQuery, scopes: dict[str, models.QuerySet[Any]], limit: int
) -> list[Candidate]:
    """Names starting with a query too short for the trigram index ("Mü", "Li W"), through the
    b-tree index on the normalised name."""
    prefix = " ".join(fold(parsed.text).split())
    if not prefix or not parsed.words:
        return []
    if connection.vendor == "sqlite":  # a range: SQLite's LIKE cannot use the index
        match = Q(normalized_name__gte=prefix, normalized_name__lt=prefix + "\U0010ffff")
    else:  # Django's varchar_pattern_ops index serves LIKE 'prefix%'
        match = Q(normalized_name__startswith=prefix)
    found: list[Candidate] = []
    for kind, queryset in scopes.items():
        rows = (
            queryset.filter(match)
            .order_by("normalized_name")
            .values_list("pk", "normalized_name")[:limit]
        )
        found += [Candidate(kind, pk, "name", name) for pk, name in rows]
    return found


def _scan_candidates(
    parsed: ParsedQuery, scopes: dict[str, models.QuerySet[Any]], limit: int
) -> list[Candidate]:
    """LIKE scans, for queries too short for the trigram index (and SQLite without FTS5)."""
    found: list[Candidate] = []
    name_fields = {
        "organization": ["legal_name", "short_name", "normalized_name"],
        "person": ["first_name", "last_name", "normalized_name"],
    }
    for kind, queryset in scopes.items() if parsed.words else ():
        for word in parsed.words:
            match = Q()
            for alternative in dict.fromkeys([word, fold(word)]):
                for name in name_fields[kind]:
                    match |= Q(**{f"{name}__icontains": alternative})
            queryset = queryset.filter(match)
        for pk, *names in queryset.order_by().values_list("pk", *name_fields[kind])[:limit]:
            found.append(Candidate(kind, pk, "name", PART_SEPARATOR.join(names)))
    owners = Q(pk__in=[])
    if "person" in scopes:
        owners |= Q(person__in=scopes["person"].order_by().values("pk"))
    if "organization" in scopes:
        owners |= Q(
            person__isnull=True, organization__in=scopes["organization"].order_by().values("pk")
        )
    contact_rows: list[tuple[str, Any]] = []
    if " " not in parsed.text and len(parsed.text) >= MIN_TERM:
        contact_rows.append(("email", Email.objects.filter(owners, address__icontains=parsed.text)))
    if len(parsed.digits) >= MIN_TERM:
        contact_rows.append(("phone", Phone.objects.filter(owners, number__contains=parsed.digits)))
    for field_name, rows in contact_rows:
        value_field = "address" if field_name == "email" else "number"
        for person_id, organization_id, value in rows.values_list(
            "person_id", "organization_id", value_field
        )[:limit]:
            kind = "person" if person_id is not None else "organization"
            found.append(Candidate(kind, person_id or organization_id, field_name, value))
    if parsed.tax_ids and "organization" in scopes:
        match = Q()
        for form in parsed.tax_ids:
            match |= Q(value__icontains=form)
        organizations = scopes["organization"].order_by().values("pk")
        for organization_id, value in TaxId.objects.filter(
            match, organization__in=organizations
        ).values_list("organization_id", "value")[:limit]:
            found.append(Candidate("organization", organization_id, "tax_id", value))
    return found


# --- ranking --------------------------------------------------------------------------------


def similarity(query: str, text: str) -> float:
    """0..1: how alike the two are; a whole word counts at least 0.9, a word's start 0.8."""
    q, t = fold(query), fold(text)
    if not q or not t:
        return 0.0
    if q == t:
        return 1.0
    ratio = SequenceMatcher(None, q, t, autojunk=False).ratio()
    words = t.split()
    if q in words:  # a whole word: "nowak" in "anna nowak" beats "nowak" in "nowakowski"
        ratio = max(ratio, 0.9 + 0.09 * len(q) / len(t))
    elif t.startswith(q) or any(word.startswith(q) for word in words):
        ratio = max(ratio, 0.8 + 0.15 * len(q) / len(t))
    elif q in t:
        ratio = max(ratio, 0.5 + 0.3 * len(q) / len(t))
    return ratio


def _score(parsed: ParsedQuery, candidate: Candidate) -> float:
    """From what the index returned, before any record is loaded."""
    if candidate.exact:
        return EXACT_SCORE
    parts = candidate.parts
    if candidate.field == "name":
        names = list(parts)
        if candidate.kind == "person":  # "Nowak Anna" is as good as "Anna Nowak"
            words = parts[0].split()
            names.append(" ".join(words[-1:] + words[:-1]))
        return NAME_BASE + max((similarity(parsed.text, n) for n in names if n), default=0)
    probe = parsed.digits if candidate.field == "phone" else parsed.text
    return NAME_BASE + 0.9 * similarity(probe, parts[0].lstrip("+"))


def _detail(record: Organization | Person, candidate: Candidate) -> str:
    parts: list[str] = []
    if isinstance(record, Organization):
        if record.short_name and record.short_name != record.legal_name:
            parts.append(record.legal_name)
        parts.append(str(record.get_status_display()))
    else:
        employments = list(record.employments.all())
        if record.position:
            parts.append(record.position)
        if employments:
            parts.append(str(employments[0].organization))
    if candidate.field != "name":
        parts.append(f"{_(FIELD_LABELS[candidate.field])}: {candidate.parts[0]}")
    return " · ".join(parts)


def _load(
    scopes: dict[str, models.QuerySet[Any]], keys: Iterable[tuple[str, int]]
) -> dict[tuple[str, int], Organization | Person]:
    """The visible records among `keys`, persons with their employers (a query per kind)."""
    wanted: dict[str, set[int]] = {}
    for kind, record_id in keys:
        wanted.setdefault(kind, set()).add(record_id)
    records: dict[tuple[str, int], Organization | Person] = {}
    for kind, ids in wanted.items():
        if kind not in scopes:
            continue
        queryset = scopes[kind].filter(pk__in=ids)
        if kind == "person":
            queryset = queryset.prefetch_related(
                Prefetch(
                    "employments",
                    queryset=Employment.objects.select_related("organization").order_by(
                        "-is_primary", "pk"
                    ),
                )
            )
        records.update({(kind, record.pk): record for record in queryset})
    return records


def global_search(user: Any, query: str, limit: int = 20) -> list[SearchHit]:
    """The records `user` may see that match `query`, best first (see the module's text)."""
    parsed = parse_query(query)
    if parsed is None or limit <= 0 or not getattr(user, "is_authenticated", False):
        return []
    scopes = _scopes(user)
    if not scopes:
        return []
    pool = max(limit * 4, 40)
    exact = _exact_candidates(parsed)
    if not parsed.long_words and not parsed.fragments:
        found = _prefix_candidates(parsed, scopes, pool)
    elif connection.vendor == "postgresql":
        found = _postgres_candidates(parsed, scopes, pool)
    else:
        fts = _sqlite_candidates(parsed, scopes, pool)
        found = fts if fts is not None else _scan_candidates(parsed, scopes, pool)
    # Rank on what the index returned; load only the records that can make the cut. Exact hits
    # were not filtered by visibility yet, so as many more are loaded as there are of them.
    best: dict[tuple[str, int], tuple[float, Candidate]] = {}
    for candidate in [*exact, *found]:
        key = (candidate.kind, candidate.record_id)
        score = _score(parsed, candidate)
        if key not in best or best[key][0] < score:
            best[key] = (score, candidate)
    ranked = sorted(best.items(), key=lambda item: (-item[1][0], item[1][1].parts[0].casefold()))
    top = ranked[: limit + len(exact)]
    records = _load(scopes, (key for key, _value in top))
    hits = [
        SearchHit(
            kind=candidate.kind,
            record=records[key],
            title=str(records[key]),
            detail=_detail(records[key], candidate),
            matched=candidate.field,
            matched_value=candidate.parts[0] if candidate.field != "name" else str(records[key]),
            score=round(score, 4),
        )
        for key, (score, candidate) in top
        if key in records  # else not visible to the user
    ]
    hits.sort(key=lambda hit: (-hit.score, hit.title.casefold(), hit.kind))
    return hits[:limit]


# --- keeping the SQLite index whole ---------------------------------------------------------


def _frozen_sql() -> Any:
    return importlib.import_module("konvergo.crm.migrations.0002_search")


def search_index_rebuild(using: str = DEFAULT_DB_ALIAS) -> int:
    """Refill the SQLite trigram table from the source tables; returns its row count.
    (PostgreSQL's trigram indexes need no upkeep: returns 0 there.)"""
    db = connections[using]
    if db.vendor != "sqlite" or not fts_available(db):
        return 0
    sql = _frozen_sql()
    with db.cursor() as cursor:
        cursor.execute(f"DELETE FROM {FTS_TABLE}")  # noqa: S608  (constant)
        for table, (code, kind, record_id, name, text, _columns) in sql.SOURCES.items():
            cursor.execute(
                f"INSERT INTO {FTS_TABLE}(rowid, text, kind, record_id, field) "  # noqa: S608
                f"SELECT r.id * 8 + {code}, {text.format(r='r')}, {kind.format(r='r')}, "
                f"{record_id.format(r='r')}, '{name}' FROM {table} AS r"
            )
        cursor.execute(f"SELECT count(*) FROM {FTS_TABLE}")  # noqa: S608  (constant)
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def search_index_repair(using: str = DEFAULT_DB_ALIAS, **_signal: Any) -> bool:
    """Re-create the SQLite sync triggers when a table rebuild dropped them, then refill the
    index (it missed the changes made meanwhile). True if something was repaired.

    SQLite's ALTER TABLE emulation (copy, drop, rename) drops a table's triggers, so run this
    after migrations: connect it to `post_migrate` in CrmConfig.ready().
    """
    db = connections[using]
    if db.vendor != "sqlite" or not fts_available(db):
        return False
    sql = _frozen_sql()
    triggers = dict(sql.sqlite_triggers())
    with db.cursor() as cursor:
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        present = {name for (name,) in cursor.fetchall()}
        missing = [name for name in triggers if name not in present]
        for name in missing:
            cursor.execute(triggers[name])
    if missing:
        search_index_rebuild(using)
    return bool(missing)
