from django.contrib import admin

from breederhq.backoffice.admin_tools import ReadOnlyAdminMixin
from breederhq.backoffice.models import StaffActionAudit


@admin.register(StaffActionAudit)
class StaffActionAuditAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "actor_username", "action", "target_model", "target_database", "target_id",
                    "result")
    list_filter = ("action", "target_model", "target_database")
    search_fields = ("actor_username", "target_id", "reason")
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in StaffActionAudit._meta.fields]
