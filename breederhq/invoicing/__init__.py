"""The invoice core shared by both invoice kinds.

Tenant invoices (tenant database, `tenant_app`) and marketplace invoices (marketplace database,
`marketplace_app`) keep their own tables; the rules they share live here once: the status enum and
transition table (`status`), the common columns and audit columns (`models`), and the lifecycle
steps every change goes through: lock, version check, transition, audit rows, email and effect hooks
(`lifecycle`). Each kind supplies a thin adapter (`lifecycle.InvoiceKind`). Nothing in this package
imports a domain app.
"""
