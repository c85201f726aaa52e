"""The organisation part of the demo company: departments and the people in them."""

from __future__ import annotations

from collections.abc import Callable

from konvergo.core.demo import register_demo_step
from konvergo.core.models import BusinessCalendar
from konvergo.org.models import Department, User

# (username, first name, last name, position, language, time zone)
PEOPLE: dict[str, list[tuple[str, str, str, str, str, str]]] = {
    "Management": [
        ("katharina.vogel", "Katharina", "Vogel", "Managing Director", "de", "Europe/Berlin"),
    ],
    "Sales": [
        ("jan.kowalski", "Jan", "Kowalski", "Head of Sales", "pl", "Europe/Warsaw"),
        ("anna.nowak", "Anna", "Nowak", "Account Executive", "pl", "Europe/Warsaw"),
        ("lukas.becker", "Lukas", "Becker", "Account Executive", "de", "Europe/Berlin"),
    ],
    "Customer Service": [
        ("sara.ahmadi", "Sara", "Ahmadi", "Head of Customer Service", "fa", "Asia/Tehran"),
        ("reza.karimi", "Reza", "Karimi", "Support Agent", "fa", "Asia/Tehran"),
        ("olga.ivanova", "Olga", "Ivanova", "Support Agent", "ru", "Europe/Moscow"),
    ],
    "Finance": [
        ("thomas.schmidt", "Thomas", "Schmidt", "Head of Finance", "de", "Europe/Berlin"),
        ("marta.zielinska", "Marta", "Zielińska", "Accountant", "pl", "Europe/Warsaw"),
    ],
    "Human Resources": [
        ("dmitri.sokolov", "Dmitri", "Sokolov", "HR Manager", "ru", "Europe/Moscow"),
    ],
}
CALENDAR_OF = {"Sales": "Warsaw office", "Customer Service": "Tehran office"}


@register_demo_step(20, "people")
def demo_people(say: Callable[[str], None]) -> None:
    calendars = {c.name: c for c in BusinessCalendar.objects.all()}
    default_calendar = next((c for c in calendars.values() if c.is_default), None)
    top = Department.objects.create(name="Management", calendar=default_calendar)
    count = 0
    for department_name, people in PEOPLE.items():
        department = (
            top
            if department_name == "Management"
            else Department.objects.create(
                name=department_name,
                parent=top,
                calendar=calendars.get(CALENDAR_OF.get(department_name, ""), default_calendar),
            )
        )
        for index, (username, first, last, position, language, tz) in enumerate(people):
            user = User(
                username=username,
                first_name=first,
                last_name=last,
                email=f"{username}@demo.konvergo.example",
                position=position,
                language=language,
                time_zone=tz,
                department=department,
            )
            user.set_unusable_password()  # demo colleagues cannot sign in; admin can
            user.save()
            count += 1
            if index == 0:
                department.head = user
                department.save(update_fields=["head", "updated_at"])
    say(f"{Department.objects.count()} departments, {count} people")
