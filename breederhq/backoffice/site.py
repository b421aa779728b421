"""The back office's admin site (`django.contrib.admin.site` is an instance of it, through
BackofficeAdminConfig): Django's admin, except that every page needs a second factor.

A staff member who signed in with their password but has not passed the second factor in this
session reaches no admin page (nor the back office's own pages, which use `admin_view`) except the
second-factor pages: they are sent to verify a code, or, without a device, to enrol one. Sign-out
stays open to them. As django_otp.admin.OTPAdminSite, `has_permission` also asks
`request.user.is_verified()` (django_otp's OTPMiddleware); the sign-in itself stays Django's
password form, followed by a second page for the code.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.views import redirect_to_login
from django.urls import path, reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect

from breederhq.staff import is_staff_account, session_is_verified


def needs_second_factor(request) -> bool:
    """Signed in with a password as an active staff member, second factor not passed yet."""
    user = request.user
    return bool(is_staff_account(user) and user.is_active and not session_is_verified(user))


class BackofficeAdminSite(admin.AdminSite):
    site_header = "BreederHQ back office"
    site_title = "BreederHQ back office"

    def has_permission(self, request):
        return super().has_permission(request) and session_is_verified(request.user)

    def admin_view(self, view, cacheable=False):
        wrapped = super().admin_view(view, cacheable)

        def inner(request, *args, **kwargs):
            if needs_second_factor(request):
                if request.path == reverse("admin:logout", current_app=self.name):
                    return view(request, *args, **kwargs)  # signing out needs no second factor
                return redirect_to_login(request.get_full_path(), reverse("admin:second_factor", current_app=self.name))
            return wrapped(request, *args, **kwargs)

        inner.__dict__.update(wrapped.__dict__)
        inner.__wrapped__ = view
        return inner

    def login(self, request, extra_context=None):
        """Django's password form; then, for staff, the second-factor page (keeping `next`)."""
        if request.method == "GET" and needs_second_factor(request):
            return self._to_second_factor(request)
        response = super().login(request, extra_context)
        if request.method == "POST" and response.status_code == 302 and needs_second_factor(request):
            return self._to_second_factor(request, response["Location"])
        return response

    def _to_second_factor(self, request, target: str | None = None):
        target = target or request.GET.get(REDIRECT_FIELD_NAME) or reverse("admin:index", current_app=self.name)
        return redirect_to_login(target, reverse("admin:second_factor", current_app=self.name))

    def get_urls(self):
        from breederhq.backoffice import second_factor_views as views

        def signed_in(view):
            return never_cache(csrf_protect(view))

        return [
            path("second-factor/", signed_in(views.verify_view), name="second_factor"),
            path("second-factor/enrol/", signed_in(views.enrol_view), name="second_factor_enrol"),
            path(
                "second-factor/recovery-codes/",
                self.admin_view(views.recovery_codes_view),
                name="second_factor_recovery_codes",
            ),
            *super().get_urls(),
        ]
