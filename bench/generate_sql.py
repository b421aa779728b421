"""The generator's SQL building blocks (bench/generate.py): one `INSERT ... SELECT` per model that
keeps up with the model's columns, a well spread deterministic pick, and row ranges in chunks."""

from __future__ import annotations

#: Rows per INSERT ... SELECT for the big tables (progress, and bounded transactions).
CHUNK = 500_000


def pick(expression: str, modulus: int | str) -> str:
    """A deterministic, well spread index in [0, modulus) from an integer SQL expression."""
    return f"(mod(hashint8(({expression})::bigint)::bigint + 2147483648, {modulus}))"


def chunks(total: int, size: int = CHUNK):
    for start in range(0, total, size):
        yield start, min(start + size, total)


def insert_select(cursor, model, *, values: dict[str, str], source: str, params: dict | None = None) -> int:
    """`INSERT INTO <model's table> (...) SELECT ... FROM <source>`: the columns named in `values`
    take those SQL expressions; every other column takes what the ORM would write for a new
    instance (its default, auto_now, blank string), adapted by the field itself, so the statement
    keeps up with the model. The id and database-default columns are left to PostgreSQL."""
    from django.db import connections

    connection = connections[cursor.db.alias]
    template = model()
    columns, expressions, literals = [], [], {}
    for field in model._meta.concrete_fields:
        if field.column in values:
            columns.append(field.column)
            expressions.append(values[field.column])
        elif field.generated or field is model._meta.auto_field or field.has_db_default():
            continue
        else:
            name = f"_{field.column}"
            columns.append(field.column)
            expressions.append(f"%({name})s")
            literals[name] = field.get_db_prep_save(field.pre_save(template, True), connection)
    unknown = set(values) - set(columns)
    if unknown:
        raise ValueError(f"{model.__name__} has no columns {sorted(unknown)}")
    cursor.execute(
        f'INSERT INTO "{model._meta.db_table}" ({", ".join(columns)}) SELECT {", ".join(expressions)} FROM {source}',
        {**literals, **(params or {})},
    )
    return cursor.rowcount
