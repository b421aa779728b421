"""Streaming an export as CSV or XLSX pieces, and its `finance_export` audit row."""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterator
from contextlib import nullcontext

from django.conf import settings

from breederhq.backoffice.exports.cells import cell
from breederhq.backoffice.exports.datasets import DATASETS, ExportRequest
from breederhq.backoffice.models import StaffActionAudit
from breederhq.databases import TENANT_DB
from breederhq.tenancy import system_read_context

FINANCE_EXPORTS = "backoffice.finance_exports"
AUDIT_ACTION = "finance_export"
DEFAULT_CHUNK_SIZE = 2000
#: CSV text is sent in pieces of about this many rows (one yield each).
CSV_ROWS_PER_PIECE = 500
FILE_PIECE_BYTES = 64 * 1024

CSV_CONTENT_TYPE = "text/csv; charset=utf-8"
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def chunk_size() -> int:
    return int(getattr(settings, "BACKOFFICE_EXPORT_CHUNK_SIZE", DEFAULT_CHUNK_SIZE))


def export_rows(req: ExportRequest, *, staff_user_id: int) -> Iterator[list]:
    """Each row of the export as a list of cells in column order (the header not included).
    Tenant-database sources are read inside one audited system read each."""
    dataset = DATASETS[req.dataset]
    for source in dataset.sources:
        queryset = source.queryset(req)
        if queryset is None:
            continue
        context = (
            system_read_context(
                job=f"finance_export:{req.dataset}",
                user_id=staff_user_id,
                reason=f"finance export {req.dataset} {req.describe()}: {req.reason}"[:500],
            )
            if source.database == TENANT_DB
            else nullcontext()
        )
        with context:
            for obj in queryset.iterator(chunk_size=chunk_size()):
                values = source.row(obj)
                yield [cell(values.get(column)) for column in dataset.columns]


class _Counter:
    def __init__(self):
        self.rows = 0


def _csv_pieces(req: ExportRequest, rows: Iterator[list], counter: _Counter) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")  # a BOM, so spreadsheet programs read the file as UTF-8
    writer.writerow(DATASETS[req.dataset].columns)
    for row in rows:
        writer.writerow(row)
        counter.rows += 1
        if counter.rows % CSV_ROWS_PER_PIECE == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def _xlsx_pieces(req: ExportRequest, rows: Iterator[list], counter: _Counter) -> Iterator[bytes]:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)  # rows go to a temporary file as they are appended
    sheet = workbook.create_sheet(title=req.dataset)
    sheet.append(list(DATASETS[req.dataset].columns))
    for row in rows:
        sheet.append(row)
        counter.rows += 1
    with tempfile.TemporaryFile() as file:
        workbook.save(file)
        file.seek(0)
        while piece := file.read(FILE_PIECE_BYTES):
            yield piece


def export_stream(req: ExportRequest, *, fmt: str, staff_user) -> Iterator[bytes]:
    """The bytes of the export, as a generator for StreamingHttpResponse. The audit row is written
    when the stream ends, however it ends (finished, client gone, error), with the rows sent."""
    counter = _Counter()
    outcome = "interrupted"
    rows = export_rows(req, staff_user_id=staff_user.pk)
    try:
        pieces = _csv_pieces if fmt == "csv" else _xlsx_pieces
        yield from pieces(req, rows, counter)
        outcome = "done"
    except Exception as exc:
        outcome = f"failed ({type(exc).__name__})"
        raise
    finally:
        # Leave the read transaction (a client gone mid-stream rolls it back) before writing the
        # audit row, so the row is committed on its own.
        rows.close()
        finance_export_audit(req, fmt=fmt, staff_user=staff_user, rows=counter.rows, outcome=outcome)


def finance_export_audit(req: ExportRequest, *, fmt: str, staff_user, rows: int, outcome: str) -> StaffActionAudit:
    databases = sorted({source.database for source in DATASETS[req.dataset].sources})
    return StaffActionAudit.objects.using(TENANT_DB).create(
        actor_id=staff_user.pk,
        actor_username=staff_user.get_username(),
        action=AUDIT_ACTION,
        target_model=f"export:{req.dataset}",
        target_database="+".join(databases)[:20],
        target_id=f"{fmt} {req.range.first_day:%Y%m%d}-{req.range.last_day:%Y%m%d}",
        reason=f"{req.describe()}; reason: {req.reason}",
        result=f"{rows} rows, {outcome}"[:300],
    )


def export_filename(req: ExportRequest, fmt: str) -> str:
    return f"breederhq-{req.dataset}-{req.range.first_day:%Y%m%d}-{req.range.last_day:%Y%m%d}.{fmt}"
