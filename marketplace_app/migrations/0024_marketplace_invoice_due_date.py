from django.db import migrations, models


class Migration(migrations.Migration):
    """Expand: the calendar-date `due_date` the tenant invoices already have (a nullable column with
    no default: a catalogue change, no table rewrite). `due_at` stays for one release
    (docs/architecture/invoices-and-payments.md, "Due dates")."""

    dependencies = [
        ("marketplace_app", "0023_crossdb_check_changed_rows_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="marketplaceinvoice",
            name="due_date",
            field=models.DateField(blank=True, null=True),
        ),
    ]
