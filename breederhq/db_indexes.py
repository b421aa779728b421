"""Indexes created by raw SQL in migrations, CONCURRENTLY (the migration is `atomic = False`).

The back office's searches (`^field` and `=field` in a ModelAdmin's search_fields,
breederhq/backoffice/admin_tools.LargeTableAdminMixin):

Django's `istartswith` runs `UPPER("col"::text) LIKE UPPER('text%')`; a btree over `UPPER(col)`
with `text_pattern_ops` answers it by a range scan, whatever the database's collation, instead of
a read of the whole table.

They are not declared in the models' Meta: Django can only express an operator class on an
expression index with django.contrib.postgres installed. tests/backoffice/test_admin_search_indexes.py
EXPLAINs every admin search, so a search whose index is missing fails there.

The incremental cross-database check (breederhq/crossdb_check/) reads each source table's and
each registry's rows changed since its watermark in (updated_at, id) order: `changed_rows_index`.
"""

from __future__ import annotations

from django.db import migrations


def prefix_search_index(table: str, column: str, name: str) -> migrations.RunSQL:
    """For `^column`. Built (or dropped, reversed) CONCURRENTLY: the migration is `atomic = False`."""
    return _index(table, f'UPPER("{column}") text_pattern_ops', name)


def exact_search_index(table: str, column: str, name: str) -> migrations.RunSQL:
    """For `=column` on a table under row-level security (whose search takes only `=`)."""
    return _index(table, f'"{column}"', name)


def changed_rows_index(table: str, name: str) -> migrations.RunSQL:
    """(updated_at, id): the rows written since a watermark, in order, without reading the table."""
    return _index(table, '"updated_at", "id"', name)


def _index(table: str, key: str, name: str) -> migrations.RunSQL:
    return migrations.RunSQL(
        f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "{name}" ON "{table}" ({key})',
        reverse_sql=f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"',
    )
