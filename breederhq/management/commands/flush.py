"""`flush`: Django's, run as the owner role, truncating only the tables that are not as new.

Transactional tests flush both databases after every test through this command, so what it costs
is paid hundreds of times a run. Two differences from Django's own:

* It runs as the owner role: TRUNCATE is an owner's right the application role never gets.
* It truncates the tables that have storage (`pg_relation_size` > 0 over the table and, for a
  partitioned one, its partitions) or planner statistics (`pg_class.reltuples` >= 0, the same
  over the partitions), with CASCADE so that every table referencing them is emptied too. A table
  with neither holds no row: PostgreSQL extends the file when the first row is written (committed
  or not), and only a VACUUM that found every row dead cuts it back, which leaves statistics. So
  leaving it alone leaves it as TRUNCATE would: afterwards every table is empty, as with Django's
  flush. The size is read from the file, not by selecting rows, because row-level security (forced
  on the tenant tables, breederhq/tenancy/policies.py) hides rows even from the owner.

  The statistics matter to the planner, not to the rows. A table never vacuumed or analyzed has
  reltuples -1, and PostgreSQL plans it as if it held ten pages; once a VACUUM or ANALYZE has seen
  it empty (autovacuum after a test's rolled-back rows, the ANALYZE in a migration) it has 0 and is
  planned as holding nothing, so that a walk of any index, or of none, costs as little as the
  right one and tests of plans (tests/backoffice/test_admin_search_indexes.py) fail by chance.
  TRUNCATE gives a table -1 again, as a fresh table has. (Column statistics, pg_statistic, stay
  after a TRUNCATE; only a superuser may remove them.)

Then, as Django's does, it sends post_migrate so content types, permissions and the back-office
groups are created again; the receivers that only matter after a schema change (the application
role's grants, breederhq/apps.py) do nothing after a flush. Making those reference rows again is
most of a flush's cost, so within one process a flush leaves them alone, and sends no post_migrate,
while they are exactly as the previous flush of that database left them (a digest of their rows is
compared); when anything in them changed, they are emptied and made again like the rest.
"""

from django.core.management.base import CommandError
from django.core.management.color import no_style
from django.core.management.commands.flush import Command as DjangoFlushCommand
from django.core.management.sql import emit_post_migrate_signal
from django.db import connections

from breederhq.db_roles import owner_credentials

#: The tables with storage or statistics, their partitions' included (pg_partition_tree lists nothing
#: for a plain table; a partitioned table's own reltuples is left out: TRUNCATE does not reset it).
_WRITTEN_SQL = (
    "SELECT t.name FROM unnest(%s::text[]) AS t(name) WHERE EXISTS ("
    " SELECT 1 FROM (SELECT t.name::regclass UNION ALL SELECT relid FROM pg_partition_tree(t.name::regclass))"
    " AS r(oid) JOIN pg_class c ON c.oid = r.oid"
    " WHERE pg_relation_size(c.oid) > 0 OR (c.relkind = 'r' AND c.reltuples >= 0))"
)


def tables_to_flush(connection) -> list[str]:
    """The Django tables of `connection` whose storage is not empty or that have planner statistics
    (see the module docstring)."""
    tables = connection.introspection.django_table_names(only_existing=True, include_views=False)
    if not tables:
        return []
    quoted = [connection.ops.quote_name(table) for table in sorted(tables)]
    with connection.cursor() as cursor:
        cursor.execute(_WRITTEN_SQL, [quoted])
        return [connection.introspection.identifier_converter(name.strip('"')) for (name,) in cursor.fetchall()]


#: The rows post_migrate makes (content types, permissions, the back-office groups): they exist in
#: the tenant database, where auth lives.
REFERENCE_TABLES = ("django_content_type", "auth_permission", "auth_group", "auth_group_permissions")
#: Database name -> the digest of its reference rows as this process's last full flush left them.
_reference_rows_left: dict[str, str] = {}


def _reference_digest(connection, tables: list[str]) -> str:
    """One digest of every row of `tables` (a few hundred rows: a couple of milliseconds)."""
    parts = " || ".join(
        f"(SELECT coalesce(md5(string_agg(r::text, '|' ORDER BY r::text)), '') FROM {connection.ops.quote_name(t)} r)"
        for t in tables
    )
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {parts}")
        return cursor.fetchone()[0]


class Command(DjangoFlushCommand):
    def handle(self, **options):
        database = options["database"]
        with owner_credentials(aliases=[database]):
            if options["interactive"]:
                return super().handle(**options)  # an operator at a prompt: Django's, whole
            return self._flush_written_tables(database, options)

    def _flush_written_tables(self, database: str, options) -> None:
        connection = connections[database]
        name = connection.settings_dict["NAME"]
        tables = tables_to_flush(connection)
        existing = connection.introspection.table_names(include_views=False)
        reference = [table for table in REFERENCE_TABLES if table in existing]
        unchanged = bool(reference) and _reference_rows_left.get(name) == _reference_digest(connection, reference)
        if unchanged:
            tables = [table for table in tables if table not in reference]
        sql_list = connection.ops.sql_flush(
            no_style(), tables, reset_sequences=options.get("reset_sequences", True), allow_cascade=True
        )
        try:
            connection.ops.execute_sql_flush(sql_list)
        except Exception as exc:
            raise CommandError(f"Database {name} couldn't be flushed: {exc}") from exc
        if unchanged and _reference_rows_left[name] == _reference_digest(connection, reference):
            return  # the reference rows are as post_migrate made them (no cascade reached them)
        # As Django's: post_migrate unless inhibited or the database has no table yet (here also when
        # nothing was written: the reference rows may be missing, emptied by an inhibited flush).
        if (sql_list or reference) and not options.get("inhibit_post_migrate", False):
            emit_post_migrate_signal(options["verbosity"], False, database)
            if reference:
                _reference_rows_left[name] = _reference_digest(connection, reference)
        else:  # the reference rows were emptied and not made again: the next flush must make them
            _reference_rows_left.pop(name, None)
