"""Global CRM search latency at 100,000 contacts against a bare indexed lookup, same data, same run.

Seeds organisations (a fifth) and persons (the rest) from German, Polish, Russian (Cyrillic)
and Iranian (Latin and Persian script) names, each with an e-mail and an E.164 phone,
organisations with a tax id and persons employed there, in bulk. Then times
`konvergo.crm.search.global_search` for a user who sees every record over a fixed list of
realistic queries (names, fragments, e-mails, phones as typed, tax ids, a miss) and, as the
baseline, a lookup of an e-mail address by its indexed column. Ratio = search / lookup.
Goal: a median under 50 ms at 100,000 contacts.

    python benchmarks/crm_search.py [--quick]     (SQLite; PostgreSQL with
                                                   KONVERGO_BENCH_DATABASE_URL=postgres://...)
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import unicodedata
from collections.abc import Callable
from functools import partial
from typing import Any

from common import report, setup_django

BATCH = 5000
ROUNDS = 5

DE_FIRST = [
    "Lukas",
    "Julia",
    "Stefan",
    "Petra",
    "Markus",
    "Sabine",
    "Thomas",
    "Katrin",
    "Jonas",
    "Laura",
    "Felix",
    "Miriam",
]
DE_LAST = [
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Schulz",
    "Hoffmann",
    "Schäfer",
    "Koch",
    "Bauer",
    "Richter",
    "Klein",
    "Wolf",
    "Schröder",
    "Neumann",
    "Schwarz",
    "Zimmermann",
    "Braun",
    "Krüger",
    "Hartmann",
    "Lange",
]
PL_FIRST = [
    "Anna",
    "Jan",
    "Piotr",
    "Katarzyna",
    "Tomasz",
    "Agnieszka",
    "Paweł",
    "Magdalena",
    "Krzysztof",
    "Ewa",
    "Zofia",
]
PL_LAST = [
    "Nowak",
    "Kowalski",
    "Wiśniewski",
    "Wójcik",
    "Kowalczyk",
    "Kamiński",
    "Lewandowski",
    "Zieliński",
    "Szymański",
    "Woźniak",
    "Dąbrowski",
    "Kozłowski",
    "Jankowski",
    "Mazur",
    "Kwiatkowski",
    "Krawczyk",
]
# (Cyrillic, Latin) pairs: names in their script, e-mail addresses transliterated.
RU_FIRST = [
    ("Дмитрий", "dmitri"),
    ("Елена", "elena"),
    ("Сергей", "sergey"),
    ("Ольга", "olga"),
    ("Алексей", "aleksey"),
    ("Наталья", "natalya"),
    ("Андрей", "andrey"),
    ("Иван", "ivan"),
]
RU_LAST = [
    ("Иванов", "ivanov"),
    ("Смирнов", "smirnov"),
    ("Кузнецов", "kuznetsov"),
    ("Попов", "popov"),
    ("Васильев", "vasilyev"),
    ("Петров", "petrov"),
    ("Соколов", "sokolov"),
    ("Волков", "volkov"),
]
IR_FIRST = [
    ("Ali", "ali"),
    ("Maryam", "maryam"),
    ("Mohammad", "mohammad"),
    ("Zahra", "zahra"),
    ("علی", "ali"),
    ("مریم", "maryam"),
    ("رضا", "reza"),
    ("سارا", "sara"),
]
IR_LAST = [
    ("Ahmadi", "ahmadi"),
    ("Hosseini", "hosseini"),
    ("Rezaei", "rezaei"),
    ("Moradi", "moradi"),
    ("احمدی", "ahmadi"),
    ("حسینی", "hosseini"),
    ("کریمی", "karimi"),
    ("جعفری", "jafari"),
]
COMPANY_WORDS = {
    "DE": (
        DE_LAST,
        ["Logistik", "Maschinenbau", "Energie", "Bau", "Software", "Handel", "Metall", "Elektro"],
    ),
    "PL": (
        ["Baltic", "Polmet", "Wisła", "Mazowsze", "Tatra", "Orzeł", "Bursztyn", "Odra"],
        ["Logistyka", "Budownictwo", "Handel", "Technologie", "Transport", "Metal"],
    ),
    "RU": (
        ["Волга", "Сибирь", "Урал", "Нева", "Байкал", "Алтай"],
        ["Трейд", "Технологии", "Строй", "Логистика", "Энерго"],
    ),
    "IR": (
        ["Pars", "Sepahan", "Tabriz", "Karun", "Alborz", "Zagros"],
        ["Petro", "Steel", "Carpet", "Trading", "Cement", "Textile"],
    ),
}
LEGAL_FORM = {"DE": "{} GmbH", "PL": "{} Sp. z o.o.", "RU": "ООО «{}»", "IR": "{} Co."}  # noqa: RUF001
PHONE_PREFIX = {"DE": ("+4930", 8), "PL": ("+4822", 7), "RU": ("+7495", 7), "IR": ("+9821", 8)}
COUNTRIES = ["DE", "PL", "RU", "IR"]


def ascii_slug(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold().replace("ł", "l"))
    return "".join(c for c in decomposed if c.isascii() and c.isalnum())


def seed(contacts: int) -> dict[str, Any]:
    """Bulk-create `contacts` records; returns what the queries are built from."""
    from konvergo.crm.demo_data import TAX_ID
    from konvergo.crm.models import Email, Employment, Organization, Person, Phone, TaxId
    from konvergo.crm.services.contacts import normalize_name
    from konvergo.org.models import Scope, User
    from konvergo.org.services import role_create

    rng = random.Random(20260401)  # noqa: S311  (reproducible data, not secrets)
    owners = [User.objects.create(username=f"seller{n}") for n in range(10)]
    reader = User.objects.create(username="manager")
    reader.roles.add(
        role_create(
            name="Directory",
            scope=Scope.ALL,
            permissions=["crm.view_organization", "crm.view_person"],
        )
    )
    seller = owners[0]
    seller.roles.add(
        role_create(
            name="Own clients",
            scope=Scope.OWN,
            permissions=["crm.view_organization", "crm.view_person"],
        )
    )
    organizations = contacts // 5
    persons = contacts - organizations
    phone_counter = {country: 0 for country in COUNTRIES}

    def phone(country: str) -> str:
        prefix, width = PHONE_PREFIX[country]
        phone_counter[country] += 1
        return f"{prefix}{2 * 10 ** (width - 1) + phone_counter[country] * 37 % 10 ** (width - 1)}"

    org_rows: list[tuple[Any, ...]] = []
    for n in range(organizations):
        country = COUNTRIES[n % 4]
        words, industries = COMPANY_WORDS[country]
        name = f"{rng.choice(words)} {rng.choice(industries)}"
        legal = LEGAL_FORM[country].format(name)
        domain = f"{ascii_slug(name) or 'firma'}{n}.{country.lower()}"
        kind, make_tax_id = TAX_ID[country]
        org_rows.append((country, legal, domain, kind, make_tax_id(7919 * n + 11)))
    for start in range(0, organizations, BATCH):
        chunk = org_rows[start : start + BATCH]
        created = Organization.objects.bulk_create(
            [
                Organization(
                    legal_name=legal,
                    normalized_name=normalize_name(legal),
                    status=rng.choice(["lead", "prospect", "customer", "partner"]),
                    owner=owners[(start + i) % 10],
                )
                for i, (_c, legal, _d, _k, _t) in enumerate(chunk)
            ]
        )
        Email.objects.bulk_create(
            [
                Email(organization=o, address=f"info@{row[2]}")
                for o, row in zip(created, chunk, strict=True)
            ]
        )
        Phone.objects.bulk_create(
            [
                Phone(organization=o, number=phone(row[0]))
                for o, row in zip(created, chunk, strict=True)
            ]
        )
        TaxId.objects.bulk_create(
            [
                TaxId(organization=o, country=row[0], kind=row[3], value=row[4])
                for o, row in zip(created, chunk, strict=True)
            ]
        )
    org_ids = list(Organization.objects.order_by("pk").values_list("pk", flat=True))

    def person_name(country: str) -> tuple[str, str, str, str]:
        if country == "DE":
            first, last = rng.choice(DE_FIRST), rng.choice(DE_LAST)
            return first, last, ascii_slug(first), ascii_slug(last)
        if country == "PL":
            first, last = rng.choice(PL_FIRST), rng.choice(PL_LAST)
            return first, last, ascii_slug(first), ascii_slug(last)
        firsts, lasts = (RU_FIRST, RU_LAST) if country == "RU" else (IR_FIRST, IR_LAST)
        (first, first_latin), (last, last_latin) = rng.choice(firsts), rng.choice(lasts)
        return first, last, first_latin, last_latin

    for start in range(0, persons, BATCH):
        rows = []
        for n in range(start, min(start + BATCH, persons)):
            organization_index = n % organizations
            country = org_rows[organization_index][0]
            first, last, first_latin, last_latin = person_name(country)
            email = f"{first_latin}.{last_latin}{n}@{org_rows[organization_index][2]}"
            rows.append((country, first, last, email, org_ids[organization_index]))
        created_persons = Person.objects.bulk_create(
            [
                Person(
                    first_name=first,
                    last_name=last,
                    normalized_name=normalize_name(f"{first} {last}", legal_forms=False),
                    owner=owners[(start + i) % 10],
                )
                for i, (_c, first, last, _e, _o) in enumerate(rows)
            ]
        )
        Email.objects.bulk_create(
            [Email(person=p, address=row[3]) for p, row in zip(created_persons, rows, strict=True)]
        )
        Phone.objects.bulk_create(
            [
                Phone(person=p, number=phone(row[0]))
                for p, row in zip(created_persons, rows, strict=True)
            ]
        )
        Employment.objects.bulk_create(
            [
                Employment(person=p, organization_id=row[4])
                for p, row in zip(created_persons, rows, strict=True)
            ]
        )
    return {"reader": reader, "seller": seller}


def queries(rng: random.Random) -> list[str]:
    """The fixed query list, with e-mails, phones and tax ids picked from the seeded rows."""
    from konvergo.crm.models import Email, Organization, Person, Phone, TaxId

    def pick(values: list[str]) -> str:
        return values[rng.randrange(len(values))]

    person_emails = list(
        Email.objects.filter(person__isnull=False)
        .order_by("pk")
        .values_list("address", flat=True)[:2000]
    )
    phones = list(Phone.objects.order_by("pk").values_list("number", flat=True)[:2000])
    de_phones = [p for p in phones if p.startswith("+4930")]
    tax = list(TaxId.objects.order_by("pk").values_list("country", "value")[:400])
    pl_nip = pick([v for c, v in tax if c == "PL"])
    de_vat = pick([v for c, v in tax if c == "DE"])
    org_name = pick(
        list(Organization.objects.order_by("pk").values_list("legal_name", flat=True)[:500])
    )
    person = Person.objects.filter(last_name="Nowak").order_by("pk").first()
    full_name = f"{person.first_name} {person.last_name}" if person else "Anna Nowak"
    email = pick(person_emails)
    return [
        "Müller",  # a common surname
        "muller",  # ... typed without the umlaut
        "logist",  # a fragment of many company names
        full_name,  # a person's full name
        "Kowalski",
        "Иванов",
        "احمدی",  # Persian script
        "Ahmadi",
        "Sepahan Steel",
        org_name,  # a full legal name
        "Zimmermann Bau",
        email,  # an exact e-mail address
        email.split("@")[0][:12],  # the start of one
        pick(phones),  # a phone in E.164
        "030 " + pick(de_phones)[5:],  # ... typed nationally
        "00" + pick(phones)[1:],  # ... with 00 instead of +
        pl_nip,  # a tax id
        f"{pl_nip[:3]}-{pl_nip[3:6]}-{pl_nip[6:8]}-{pl_nip[8:]}",  # ... as printed
        f"DE {de_vat}",  # with its country prefix
        "Mü",  # two characters
        "xyzzy",  # nothing matches
    ]


def median_ms(samples: list[float]) -> float:
    return float(statistics.median(samples)) * 1000


def time_each(calls: list[Callable[[], object]], rounds: int) -> list[float]:
    for call in calls:  # warm-up: statement caches, pages in memory
        call()
    samples = []
    for _ in range(rounds):
        for call in calls:
            start = time.perf_counter()
            call()
            samples.append(time.perf_counter() - start)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="5,000 contacts for CI smoke runs")
    args = parser.parse_args()
    contacts = 5_000 if args.quick else 100_000

    setup_django()
    from django.db import connection

    from konvergo.crm.models import Email
    from konvergo.crm.search import global_search

    started = time.perf_counter()
    users = seed(contacts)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    else:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
            cursor.execute("INSERT INTO crm_search_index(crm_search_index) VALUES ('optimize')")
    seeded_s = time.perf_counter() - started
    rng = random.Random(7)  # noqa: S311  (reproducible picks)
    texts = queries(rng)
    addresses = list(Email.objects.order_by("?").values_list("address", flat=True)[: len(texts)])

    reader, seller = users["reader"], users["seller"]

    def searching(user: Any, text: str) -> Callable[[], object]:
        return partial(global_search, user, text)

    def looking_up(address: str) -> Callable[[], object]:
        return Email.objects.filter(address=address).values_list("pk", flat=True).first

    per_query = {text: median_ms(time_each([searching(reader, text)], ROUNDS)) for text in texts}
    ours = time_each([searching(reader, text) for text in texts], ROUNDS)
    own_scope = time_each([searching(seller, text) for text in texts], ROUNDS)
    baseline = time_each([looking_up(address) for address in addresses], ROUNDS)
    ours_ms, baseline_ms = median_ms(ours), median_ms(baseline)
    print(f"{connection.vendor}: {contacts} contacts seeded in {seeded_s:.1f} s")
    for text, ms in per_query.items():
        hits = len(global_search(reader, text))
        print(f"  {ms:8.2f} ms  {hits:2d} hits  {text!r}")
    p90_ms = sorted(ours)[int(len(ours) * 0.9)] * 1000
    print(
        f"global_search median {ours_ms:.2f} ms (p90 {p90_ms:.2f} ms; own-scope user "
        f"{median_ms(own_scope):.2f} ms); indexed e-mail lookup {baseline_ms:.3f} ms"
    )
    report(
        benchmark="crm_search",
        metric="median_ms",
        value=round(ours_ms, 2),
        unit="ms",
        baseline="indexed_lookup",
        baseline_value=round(baseline_ms, 3),
        ratio=round(ours_ms / baseline_ms, 1),
    )


if __name__ == "__main__":
    main()
