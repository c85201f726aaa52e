"""Full-text search in document titles and contents (the text of the current version).

- PostgreSQL: `to_tsvector('simple', title || ' ' || content_text)` with a GIN index on that
  very expression (migration documents 0002_search), queried with SearchVector/SearchQuery.
  The "simple" configuration (no stemming): documents come in five interface languages and a
  stemmer for one would mangle the others.
- SQLite: the FTS5 table `documents_search_index` (unicode61 tokenizer without diacritics), kept
  in step with `documents_document` by triggers from the same migration; words match as
  prefixes. `search_index_repair` (post_migrate) puts the triggers back when a table rebuild
  dropped them, as the CRM's search does.
"""

from __future__ import annotations

import importlib
from typing import Any

from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector
from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Q
from django.db.models.expressions import RawSQL

from konvergo.core.selectors import sqlite_table_exists
from konvergo.documents.models import Document

FTS_TABLE = "documents_search_index"
MAX_QUERY = 200


def fts_available(db: BaseDatabaseWrapper = connection) -> bool:
    """Whether this SQLite database has the documents' FTS5 index."""
    return sqlite_table_exists(FTS_TABLE, db)


def _words(query: str) -> list[str]:
    cleaned = "".join(c if c.isalnum() else " " for c in query[:MAX_QUERY])
    return list(dict.fromkeys(w for w in cleaned.split() if w))


def fts_expression(query: str) -> str:
    """Every word, as a prefix ("kontra" finds "Kontrakt")."""
    return " AND ".join(f'"{word}"*' for word in _words(query))


def search_vector() -> SearchVector:
    return SearchVector("title", "content_text", config="simple")


def matching(queryset: models.QuerySet[Document], query: str) -> models.QuerySet[Document]:
    """The documents of `queryset` whose title or text contains every word of `query`."""
    words = _words(query)
    if not words:
        return queryset
    if connection.vendor == "postgresql":
        # Every word as a prefix, like FTS5 below; `_words` keeps letters and digits only, so
        # nothing of the user's text is tsquery syntax.
        prefixes = " & ".join(f"{word}:*" for word in words)
        search = SearchQuery(prefixes, config="simple", search_type="raw")
        return (
            queryset.annotate(search=search_vector(), rank=SearchRank(search_vector(), search))
            .filter(search=search)
            .order_by("-rank", "-updated_at")
        )
    if connection.vendor == "sqlite" and fts_available():
        ids = RawSQL(  # noqa: S611  (the query is a parameter)
            f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s",  # noqa: S608
            [fts_expression(query)],
        )
        return queryset.filter(pk__in=ids)
    condition = Q()
    for word in words:
        condition &= Q(title__icontains=word) | Q(content_text__icontains=word)
    return queryset.filter(condition)


# --- keeping the SQLite index whole ---------------------------------------------------------


def _frozen_sql() -> Any:
    return importlib.import_module("konvergo.documents.migrations.0002_search")


def search_index_rebuild(using: str = DEFAULT_DB_ALIAS) -> int:
    db = connections[using]
    if db.vendor != "sqlite" or not fts_available(db):
        return 0
    sql = _frozen_sql()
    with db.cursor() as cursor:
        cursor.execute(f"DELETE FROM {FTS_TABLE}")  # noqa: S608  (constant)
        cursor.execute(sql.FILL)
        cursor.execute(f"SELECT count(*) FROM {FTS_TABLE}")  # noqa: S608  (constant)
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def search_index_repair(using: str = DEFAULT_DB_ALIAS, **_signal: Any) -> bool:
    """Re-create the SQLite sync triggers a table rebuild dropped, then refill the index."""
    db = connections[using]
    if db.vendor != "sqlite" or not fts_available(db):
        return False
    triggers = dict(_frozen_sql().TRIGGERS)
    with db.cursor() as cursor:
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        present = {name for (name,) in cursor.fetchall()}
        missing = [name for name in triggers if name not in present]
        for name in missing:
            cursor.execute(triggers[name])
    if missing:
        search_index_rebuild(using)
    return bool(missing)
