"""The cross-database integrity check: what `manage.py crossdb_check` and
the beat job report. Read-only; each problem is a dict with a `kind` and where to look.

Kinds:
  dangling_reference              a declared reference to an id its target table never had
  reference_to_hard_deleted_row   a declared reference to an id that existed and was hard-deleted
  unknown_discriminator           a polymorphic reference whose discriminator names no target
  unregistered_reference          a cross-database reference with no registry row (QuerySet.update,
                                  raw SQL, a row written before the declaration existed)
  registry_mismatch               a registry row that disagrees with its column (or whose column is
                                  now empty, or now points into the same database)
  registry_row_without_source_row a registry row whose source row is gone
  outbox_message_stuck            an outbox message marked stuck, or pending longer than the threshold

The code lives in `run` (the run: lock, batches, budget, checkpoints), `problems` (the checks) and
`common` (constants and SQL helpers); the public names are re-exported here.
"""

from breederhq.crossdb_check.common import DEMO_FAULT_KEY, FULL, INCREMENTAL, JOB, LOCK_KEY, SETTLE
from breederhq.crossdb_check.run import crossdb_check_lock, run_crossdb_check
