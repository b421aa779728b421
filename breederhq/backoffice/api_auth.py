"""The API's session authentication (kept apart from the views: DRF imports it while
`rest_framework.views` itself is still loading)."""

from rest_framework.authentication import SessionAuthentication


class SecondFactorSessionAuthentication(SessionAuthentication):
    """DRF's session authentication, except that the session of a staff account that has not passed
    the second factor authenticates nobody: such a request is anonymous, so it gets what a client
    without a session gets (the public marketplace reads, 401 elsewhere) and nothing a signed-in
    session gets. Bearer JWTs are another authenticator, unaffected (the API gives a staff account
    no more than any other account)."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None:
            return None
        from breederhq.staff import is_staff_account, session_is_verified

        user = result[0]
        if is_staff_account(user) and not session_is_verified(user):
            return None
        return result
