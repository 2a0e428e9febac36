from django.contrib.auth.backends import BaseBackend


class CustosModelBackend(BaseBackend):
    """Loads the console's (Django admin's) signed-in user for each request.

    It checks no passwords: every sign-in, the console's included, goes through the one
    sign-in flow (sessions_app.signin), which applies the brute-force limits, the risk rules,
    the second factor, the login history and the audit trail. A door that called
    django.contrib.auth.authenticate() would skip all of them, so here it admits no one."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        return None

    def get_user(self, user_id):
        from .models import User

        user = User.objects.filter(pk=user_id).first()
        return user if user is not None and user.is_active else None
