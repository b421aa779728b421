"""Row-level security on every tenant-owned table, same-tenant composite foreign keys, and the
triggers that keep issued invoices unchanged (the ledger of documents is append-only)."""

from django.db import migrations

from breederhq.tenancy import CURRENT_USER_SQL, enable_tenant_rls, same_tenant_foreign_key

TENANT_TABLES = [
    "tenant_document_sequences",
    "contacts",
    "invoices",
    "invoice_line_items",
    "credit_notes",
    "payments",
    "invoice_audit_log",
    "payment_confirmation_audit",
]

# Columns of an invoice that are the document itself: fixed once it leaves draft.
FROZEN_COLUMNS = [
    "tenant_id", "contact_id", "invoice_number", "currency", "subtotal_cents", "tax_cents",
    "total_cents", "payment_mode_snapshot", "payment_mode_locked_at", "is_marketplace_invoice",
    "replaces_id",
]
NEW = ", ".join(f"NEW.{c}" for c in FROZEN_COLUMNS)
OLD = ", ".join(f"OLD.{c}" for c in FROZEN_COLUMNS)

INVOICE_GUARD = [f"""
CREATE FUNCTION invoices_guard_issued() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    IF OLD.status <> 'draft' THEN
      RAISE EXCEPTION 'invoice % is %: an issued invoice is never deleted (void it instead)',
        OLD.invoice_number, OLD.status USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN OLD;
  END IF;
  IF OLD.status <> 'draft' AND ({NEW}) IS DISTINCT FROM ({OLD}) THEN
    RAISE EXCEPTION 'invoice % is %: an issued invoice is never edited (void and reissue it)',
      OLD.invoice_number, OLD.status USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NEW;
END $$
""", """
CREATE TRIGGER invoices_guard_issued BEFORE UPDATE OR DELETE ON invoices
  FOR EACH ROW EXECUTE FUNCTION invoices_guard_issued()
"""]

LINE_ITEM_GUARD = ["""
CREATE FUNCTION invoice_line_items_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  parent_status text;
BEGIN
  -- NULL when the invoice itself is being deleted (a draft: the cascade is allowed).
  SELECT status INTO parent_status FROM invoices
   WHERE id = CASE WHEN TG_OP = 'INSERT' THEN NEW.invoice_id ELSE OLD.invoice_id END;
  IF parent_status IS NOT NULL AND parent_status <> 'draft' THEN
    RAISE EXCEPTION 'the lines of an issued invoice are never changed'
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  IF TG_OP = 'UPDATE' AND NEW.invoice_id <> OLD.invoice_id THEN
    SELECT status INTO parent_status FROM invoices WHERE id = NEW.invoice_id;
    IF parent_status IS NOT NULL AND parent_status <> 'draft' THEN
      RAISE EXCEPTION 'the lines of an issued invoice are never changed'
        USING ERRCODE = 'integrity_constraint_violation';
    END IF;
  END IF;
  RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$
""", """
CREATE TRIGGER invoice_line_items_guard BEFORE INSERT OR UPDATE OR DELETE ON invoice_line_items
  FOR EACH ROW EXECUTE FUNCTION invoice_line_items_guard()
"""]


class Migration(migrations.Migration):

    dependencies = [
        ("tenant_app", "0003_memberships_contacts_invoices_payments"),
    ]

    operations = [
        *[enable_tenant_rls(table) for table in TENANT_TABLES],
        # A user may read their own memberships before a tenant is chosen (authentication), never
        # write them without the tenant's context.
        enable_tenant_rls("tenant_memberships", extra_using=f"user_id = {CURRENT_USER_SQL}"),
        same_tenant_foreign_key("invoices", "contact_id", "contacts"),
        same_tenant_foreign_key("invoices", "replaces_id", "invoices"),
        same_tenant_foreign_key("invoice_line_items", "invoice_id", "invoices"),
        same_tenant_foreign_key("credit_notes", "invoice_id", "invoices"),
        same_tenant_foreign_key("payments", "invoice_id", "invoices"),
        same_tenant_foreign_key("payments", "credit_note_id", "credit_notes"),
        same_tenant_foreign_key("invoice_audit_log", "invoice_id", "invoices"),
        same_tenant_foreign_key("payment_confirmation_audit", "invoice_id", "invoices"),
        migrations.RunSQL(
            INVOICE_GUARD,
            reverse_sql=["DROP TRIGGER IF EXISTS invoices_guard_issued ON invoices",
                         "DROP FUNCTION IF EXISTS invoices_guard_issued()"],
        ),
        migrations.RunSQL(
            LINE_ITEM_GUARD,
            reverse_sql=["DROP TRIGGER IF EXISTS invoice_line_items_guard ON invoice_line_items",
                         "DROP FUNCTION IF EXISTS invoice_line_items_guard()"],
        ),
    ]
