"""Departments, managers, deputies, roles and visibility scopes."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from django.db import IntegrityError, transaction

from konvergo.core.audit import acting_as, audit_trail
from konvergo.core.errors import BusinessError, NotAllowed
from konvergo.org.models import Department, Deputy, Notification, Scope, User
from konvergo.org.permissions import require, scope_for, visible
from konvergo.org.selectors import deputy_on, manager_of
from konvergo.org.services import (
    department_save,
    deputy_create,
    notifications_mark_read,
    notify,
    role_create,
)
from konvergo.org.tests.factories import DepartmentFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def tree() -> dict[str, Department]:
    top = DepartmentFactory.create(name="Company")
    sales = DepartmentFactory.create(name="Sales", parent=top)
    emea = DepartmentFactory.create(name="Sales EMEA", parent=sales)
    finance = DepartmentFactory.create(name="Finance", parent=top)
    return {"top": top, "sales": sales, "emea": emea, "finance": finance}


def test_moving_a_department_below_itself_is_refused(tree) -> None:
    sales = tree["sales"]
    sales.parent = tree["emea"]

    with pytest.raises(BusinessError, match="Sales EMEA lies inside Sales"):
        department_save(department=sales)

    sales.refresh_from_db()
    assert sales.parent == tree["top"]


def test_a_department_cannot_be_its_own_parent(tree) -> None:
    finance = tree["finance"]
    finance.parent = finance
    with pytest.raises(BusinessError):
        department_save(department=finance)


def test_manager_is_the_department_head_or_the_next_head_up(tree) -> None:
    ceo = UserFactory.create(department=tree["top"])
    head_of_sales = UserFactory.create(department=tree["sales"])
    seller = UserFactory.create(department=tree["emea"])
    tree["top"].head = ceo
    tree["top"].save()
    tree["sales"].head = head_of_sales
    tree["sales"].save()

    assert manager_of(seller) == head_of_sales  # EMEA has no head: the next one up
    assert manager_of(head_of_sales) == ceo  # a head reports to the head above
    assert manager_of(ceo) is None


def test_deputy_gets_work_within_the_period_and_not_outside() -> None:
    anna, jan = UserFactory.create(), UserFactory.create()
    deputy_create(user=anna, deputy=jan, starts_on=date(2026, 12, 1), ends_on=date(2026, 12, 14))

    assert deputy_on(user=anna, day=date(2026, 11, 30)) is None
    assert deputy_on(user=anna, day=date(2026, 12, 1)) == jan
    assert deputy_on(user=anna, day=date(2026, 12, 14)) == jan
    assert deputy_on(user=anna, day=date(2026, 12, 15)) is None


def test_notification_for_an_absent_user_goes_to_the_deputy_and_says_for_whom() -> None:
    anna, jan = UserFactory.create(), UserFactory.create()
    deputy_create(user=anna, deputy=jan, starts_on=date(2026, 12, 1), ends_on=date(2026, 12, 14))
    during = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
    after = datetime(2026, 12, 20, 10, 0, tzinfo=UTC)

    routed = notify(recipient=anna, title="Call ACME back", when=during)
    direct = notify(recipient=anna, title="Send the offer", when=after)

    assert (routed.recipient, routed.on_behalf_of) == (jan, anna)
    assert (direct.recipient, direct.on_behalf_of) == (anna, None)


def test_deputy_chain_is_followed_and_cycles_stop() -> None:
    anna, jan, olga = UserFactory.create(), UserFactory.create(), UserFactory.create()
    day = date(2026, 12, 3)
    deputy_create(user=anna, deputy=jan, starts_on=day, ends_on=day)
    deputy_create(user=jan, deputy=olga, starts_on=day, ends_on=day)
    assert deputy_on(user=anna, day=day) == olga
    deputy_create(user=olga, deputy=anna, starts_on=day, ends_on=day)
    assert deputy_on(user=anna, day=day) == olga  # the cycle back to anna is not taken


def test_deputy_period_ending_before_it_starts_is_refused() -> None:
    anna, jan = UserFactory.create(), UserFactory.create()
    with pytest.raises(BusinessError, match="ends"):
        deputy_create(user=anna, deputy=jan, starts_on=date(2026, 12, 5), ends_on=date(2026, 12, 1))
    assert Deputy.objects.count() == 0
    # the database refuses it too, whatever path writes it
    with pytest.raises(IntegrityError), transaction.atomic():
        Deputy.objects.create(
            user=anna, deputy=jan, starts_on=date(2026, 12, 5), ends_on=date(2026, 12, 1)
        )


def test_overlapping_deputy_periods_are_refused() -> None:
    anna, jan, olga = UserFactory.create(), UserFactory.create(), UserFactory.create()
    deputy_create(user=anna, deputy=jan, starts_on=date(2026, 12, 1), ends_on=date(2026, 12, 14))
    with pytest.raises(BusinessError, match="already has a deputy"):
        deputy_create(
            user=anna, deputy=olga, starts_on=date(2026, 12, 10), ends_on=date(2026, 12, 20)
        )


def test_deputy_assignment_is_in_the_audit_trail_with_both_people() -> None:
    anna, jan, hr = UserFactory.create(), UserFactory.create(), UserFactory.create()
    with acting_as(hr):
        period = deputy_create(
            user=anna, deputy=jan, starts_on=date(2026, 12, 1), ends_on=date(2026, 12, 2)
        )
    entry = audit_trail(period)[0]
    assert entry.action == "created"
    assert entry.actor_id == hr.pk
    row = period.history.first()
    assert (row.user_id, row.deputy_id) == (anna.pk, jan.pk)


def test_mark_notifications_read() -> None:
    anna = UserFactory.create()
    first = notify(recipient=anna, title="one")
    notify(recipient=anna, title="two")
    assert notifications_mark_read(user=anna, public_ids=[first.public_id]) == 1
    assert notifications_mark_read(user=anna) == 1
    assert not Notification.objects.filter(read_at__isnull=True).exists()


def test_visibility_scopes_on_users(tree) -> None:
    me = UserFactory.create(username="me", department=tree["sales"])
    team_mate = UserFactory.create(username="mate", department=tree["finance"])
    UserFactory.create(username="below", department=tree["emea"])
    UserFactory.create(username="elsewhere", department=tree["finance"])
    from konvergo.org.models import Team

    team = Team.objects.create(name="Key accounts")
    team.members.set([me, team_mate])

    def seen(scope: Scope) -> set[str]:
        me.roles.set([role_create(name=f"r-{scope}", scope=scope, permissions=["org.view_user"])])
        fresh = User.objects.get(pk=me.pk)  # permission caches live on the instance
        return set(visible(fresh, User.objects.all()).values_list("username", flat=True))

    assert seen(Scope.OWN) == {"me"}
    assert seen(Scope.TEAM) == {"me", "mate"}
    assert seen(Scope.DEPARTMENT) == {"me", "below"}
    assert seen(Scope.ALL) == {"me", "mate", "below", "elsewhere"}


def test_without_view_permission_nothing_is_visible_and_require_refuses() -> None:
    user = UserFactory.create()
    assert scope_for(user, Department) is None
    assert visible(user, Department.objects.all()).count() == 0
    with pytest.raises(NotAllowed, match="You may not create departments"):
        require(user, "add", Department)


def test_widest_scope_of_several_roles_wins() -> None:
    user = UserFactory.create()
    user.roles.set(
        [
            role_create(name="a", scope=Scope.OWN, permissions=["org.view_user"]),
            role_create(name="b", scope=Scope.DEPARTMENT, permissions=["org.view_user"]),
            role_create(name="c", scope=Scope.ALL, permissions=["org.view_team"]),
        ]
    )
    assert scope_for(user, User) == Scope.DEPARTMENT
