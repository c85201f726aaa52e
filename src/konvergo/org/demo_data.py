"""The organisation part of the demo company: departments, positions, roles, teams, people."""

from __future__ import annotations

from collections.abc import Callable

from konvergo.core.demo import register_demo_step
from konvergo.core.models import BusinessCalendar
from konvergo.org.models import Department, Position, Scope, Team, User
from konvergo.org.services import role_create

# department -> [(username, first name, last name, position, language, time zone)];
# the first person of each department is its head.
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
VIEW_DIRECTORY = [
    "org.view_user",
    "org.view_department",
    "org.view_team",
    "org.view_role",
    "org.view_position",
    "org.view_deputy",
    "core.view_businesscalendar",
]
MANAGE_ORGANISATION = [
    f"{app}.{action}_{model}"
    for app, model in [
        ("org", "user"),
        ("org", "department"),
        ("org", "team"),
        ("org", "role"),
        ("org", "position"),
        ("org", "deputy"),
        ("core", "businesscalendar"),
    ]
    for action in ("view", "add", "change", "delete")
]


@register_demo_step(20, "people")
def demo_people(say: Callable[[str], None]) -> None:
    calendars = {c.name: c for c in BusinessCalendar.objects.all()}
    default_calendar = next((c for c in calendars.values() if c.is_default), None)
    administrator = role_create(
        name="Administrator",
        scope=Scope.ALL,
        permissions=MANAGE_ORGANISATION,
        description="Manages people, structure and calendars.",
    )
    manager = role_create(
        name="Manager",
        scope=Scope.DEPARTMENT,
        permissions=VIEW_DIRECTORY,
        description="Sees the people of their department and below.",
    )
    employee = role_create(
        name="Employee",
        scope=Scope.TEAM,
        permissions=VIEW_DIRECTORY,
        description="Sees their team-mates.",
    )
    top = Department.objects.create(name="Management", calendar=default_calendar)
    people: dict[str, User] = {}
    for department_name, members in PEOPLE.items():
        department = (
            top
            if department_name == "Management"
            else Department.objects.create(
                name=department_name,
                parent=top,
                calendar=calendars.get(CALENDAR_OF.get(department_name, ""), default_calendar),
            )
        )
        for index, (username, first, last, title, language, tz) in enumerate(members):
            position, _created = Position.objects.get_or_create(name=title)
            user = User(
                username=username,
                first_name=first,
                last_name=last,
                email=f"{username}@demo.konvergo.example",
                position=position,
                language=language,
                time_zone=tz,
                department=department,
                calendar_system="solar_hijri" if language == "fa" else "gregorian",
            )
            user.set_unusable_password()  # demo colleagues cannot sign in; admin can
            user.save()
            people[username] = user
            if index == 0:
                department.head = user
                department.save(update_fields=["head", "updated_at"])
                user.roles.add(manager)
            else:
                user.roles.add(employee)
    people["dmitri.sokolov"].roles.add(administrator)
    key_accounts = Team.objects.create(name="Key accounts", lead=people["jan.kowalski"])
    key_accounts.members.set(
        [people[u] for u in ("jan.kowalski", "anna.nowak", "sara.ahmadi", "thomas.schmidt")]
    )
    night = Team.objects.create(name="Evening support", lead=people["reza.karimi"])
    night.members.set([people["reza.karimi"], people["olga.ivanova"]])
    admin = User.objects.filter(username="admin").first()
    if admin is not None:
        admin.department = top
        admin.save(update_fields=["department"])
    say(f"{Department.objects.count()} departments, {len(people)} people, 3 roles, 2 teams")
