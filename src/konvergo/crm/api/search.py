"""CRM API: the global search over organisations and persons (names, e-mails, phones, tax ids).

Hits are only records the caller may see (`visible()`); a caller who may view neither
organisations nor persons gets a 403.
"""

# No `from __future__ import annotations`: ninja reads the annotations at runtime.

from uuid import UUID

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from konvergo.crm.models import Organization, Person
from konvergo.crm.search import MAX_QUERY_LENGTH, SearchHit, global_search
from konvergo.org.api import caller
from konvergo.org.permissions import can, require

router = Router(tags=["crm"])


class SearchHitOut(Schema):
    kind: str = Field(description="organization or person")
    id: UUID
    title: str
    detail: str
    matched: str = Field(description="What matched: name, email, phone or tax_id")
    matched_value: str
    score: float = Field(description="Higher is better; 3 = an exact e-mail, phone or tax id")

    @staticmethod
    def resolve_id(obj: SearchHit) -> UUID:
        return obj.public_id


class SearchQuery(Schema):
    q: str = Field(max_length=MAX_QUERY_LENGTH, description="Name, e-mail, phone or tax id")
    limit: int = Field(20, ge=1, le=50)


@router.get(
    "/search",
    response=list[SearchHitOut],
    summary="Search organisations and persons by name, e-mail, phone or tax id",
)
def search(request: HttpRequest, query: Query[SearchQuery]) -> list[SearchHit]:
    user = caller(request)
    if not can(user, "view", Organization):
        require(user, "view", Person)  # 403 unless the caller may see one of the two
    return global_search(user, query.q, limit=query.limit)
