from django.urls import path

from breederhq.api import auth

urlpatterns = [
    path("token/", auth.TokenObtainView.as_view(), name="token-obtain"),
    path("token/refresh/", auth.TokenRefreshView.as_view(), name="token-refresh"),
    path("token/revoke/", auth.TokenRevokeView.as_view(), name="token-revoke"),
    path("sign-out-everywhere/", auth.SignOutEverywhereView.as_view(), name="sign-out-everywhere"),
    path("me/", auth.MeView.as_view(), name="auth-me"),
]
