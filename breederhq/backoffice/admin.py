from django.contrib import admin

from breederhq.backoffice.admin_tools import LargeTableAdminMixin, ReadOnlyAdminMixin
from breederhq.backoffice.models import StaffActionAudit


@admin.register(StaffActionAudit)
class StaffActionAuditAdmin(LargeTableAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "actor_username", "action", "target_model", "target_database", "target_id", "result")
    list_filter = ("action", "target_model", "target_database")
    search_fields = ("=target_id",)
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in StaffActionAudit._meta.fields]
