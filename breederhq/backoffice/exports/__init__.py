"""Finance exports: invoices (tenant and marketplace), payments, refunds and Stripe money movements
for a date range, optionally one tenant and/or one provider, as CSV or XLSX.

Reads are streamed: each source is one server-side cursor (`iterator(chunk_size=...)`) on its own
database, so memory stays flat whatever the range and the number of queries does not grow with the
rows. Tenant-database sources read across tenants through the audited, SELECT-only
`system_read_context` (one `cross_tenant_query_audit` row naming the staff member and their reason);
the cursor lives inside that transaction, which stays open while the rows are sent. XLSX is written
by openpyxl's write-only workbook (rows go to a temporary file as they come), then sent in chunks.

Money is shown twice: the integer amount in minor units and a formatted amount with its currency
(`1,250.00 USD`), never a float. Datetimes are ISO 8601 in UTC. Text cells are neutralised against
spreadsheet formula injection (`neutralise`). Every export, finished or not, writes one
`StaffActionAudit` row `finance_export`: who, which dataset and format, the range and filters, the
reason, and the row count. Docs: docs/operations/back-office.md#finance-exports.

The code lives in modules by concern: `cells` (one value as a cell), `datasets` (the request, the
datasets, their columns and queries) and `stream` (CSV and XLSX pieces, the audit row); their public
names are re-exported here, so `from breederhq.backoffice.exports import export_stream` keeps working.
"""

from breederhq.backoffice.exports.cells import FORMULA_STARTS, cell, formatted, neutralise
from breederhq.backoffice.exports.datasets import (
    DATASETS,
    FORMATS,
    INVOICE_COLUMNS,
    MOVEMENT_COLUMNS,
    PAYMENT_COLUMNS,
    REFUND_COLUMNS,
    Dataset,
    ExportRequest,
    Source,
)
from breederhq.backoffice.exports.stream import (
    AUDIT_ACTION,
    CSV_CONTENT_TYPE,
    CSV_ROWS_PER_PIECE,
    DEFAULT_CHUNK_SIZE,
    FILE_PIECE_BYTES,
    FINANCE_EXPORTS,
    XLSX_CONTENT_TYPE,
    chunk_size,
    export_filename,
    export_rows,
    export_stream,
    finance_export_audit,
)
