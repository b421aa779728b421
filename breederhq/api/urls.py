from django.urls import path

from breederhq.api import auth
from tenant_app.api import accounts

urlpatterns = [
    path("token/", auth.TokenObtainView.as_view(), name="token-obtain"),
    path("token/refresh/", auth.TokenRefreshView.as_view(), name="token-refresh"),
    path("token/revoke/", auth.TokenRevokeView.as_view(), name="token-revoke"),
    path("sign-out-everywhere/", auth.SignOutEverywhereView.as_view(), name="sign-out-everywhere"),
    path("me/", auth.MeView.as_view(), name="auth-me"),
    # Accounts (docs/api/accounts.md)
    path("sign-up/", accounts.SignUpView.as_view(), name="sign-up"),
    path("verify-email/", accounts.EmailVerifyView.as_view(), name="verify-email"),
    path("verify-email/resend/", accounts.EmailVerifyResendView.as_view(), name="verify-email-resend"),
    path("password-reset/", accounts.PasswordResetView.as_view(), name="password-reset"),
    path("password-reset/confirm/", accounts.PasswordResetConfirmView.as_view(), name="password-reset-confirm"),
    path("password/", accounts.PasswordChangeView.as_view(), name="password-change"),
    path("account/delete/", accounts.AccountDeleteView.as_view(), name="account-delete"),
]
