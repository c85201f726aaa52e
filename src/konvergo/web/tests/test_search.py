"""The global search's provider registry."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from konvergo.org.tests.factories import UserFactory
from konvergo.web import search

pytestmark = pytest.mark.django_db


@pytest.fixture
def restore_providers() -> Iterator[None]:
    saved = dict(search._providers)
    yield
    search._providers.clear()
    search._providers.update(saved)


def test_a_registered_provider_shows_its_hits_under_its_heading(client, restore_providers):
    seen: list[tuple[Any, str, int]] = []

    def find_things(user: Any, query: str, limit: int) -> list[search.SearchHit]:
        seen.append((user.username, query, limit))
        return [search.SearchHit(title="Widget 42", url="/things/42/", detail="in stock")]

    search.register(search.SearchProvider(key="test.things", label="Things", search=find_things))
    user = UserFactory.create(username="finder")
    client.force_login(user)

    html = client.get("/search", {"q": "  widget "}).content.decode()

    assert seen == [("finder", "widget", 10)]
    assert '<section class="mb-4" data-provider="test.things">' in html
    assert '<h2 class="h5">Things</h2>' in html
    assert '<a href="/things/42/">Widget 42</a>' in html
    assert 'value="widget"' in html  # the navigation's search box keeps the query


def test_an_empty_query_asks_no_provider(client, restore_providers):
    def fail(user: Any, query: str, limit: int) -> list[search.SearchHit]:
        raise AssertionError("must not be asked")

    search.register(search.SearchProvider(key="test.fail", label="Fail", search=fail))
    client.force_login(UserFactory.create())

    response = client.get("/search", {"q": "   "})

    assert response.status_code == 200
    assert "Type a name to find people, departments and teams." in response.content.decode()


def test_people_departments_and_teams_are_registered():
    assert [p.key for p in search.providers()][:3] == [
        "org.people",
        "org.departments",
        "org.teams",
    ]


def test_search_needs_sign_in(client):
    response = client.get("/search", {"q": "x"})

    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/search%3Fq%3Dx"
