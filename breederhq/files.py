"""Files stored by services (payment receipts): never left behind by a write that failed.

A `FileField.save` writes to storage at once, but the row naming the file is only there if the
service's transaction commits. `files_removed_on_failure` deletes what was stored inside it when
an exception leaves it, i.e. when the service's transaction rolled back. Put it OUTSIDE the
service's `transaction.atomic` so a failure at commit time is caught as well:

    with files_removed_on_failure() as stored, transaction.atomic(using=DB):
        ...
        stored.save(invoice.buyer_payment_receipt, name, upload)
"""

from __future__ import annotations

import logging
from contextlib import contextmanager

logger = logging.getLogger(__name__)


class StoredFiles:
    def __init__(self):
        self.saved: list[tuple[object, str]] = []

    def save(self, field_file, name: str, content) -> None:
        """`field_file.save(name, content, save=False)`, remembered for deletion on failure."""
        field_file.save(name, content, save=False)
        self.saved.append((field_file.storage, field_file.name))

    def delete_all(self) -> None:
        for storage, name in self.saved:
            try:
                storage.delete(name)
            except Exception:  # never hide the original error; the orphan is logged instead
                logger.exception("could not delete stored file %s after a failed write", name)


@contextmanager
def files_removed_on_failure():
    stored = StoredFiles()
    try:
        yield stored
    except BaseException:
        stored.delete_all()
        raise
