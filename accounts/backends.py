from django.contrib.auth.backends import BaseBackend


class CustosModelBackend(BaseBackend):
    """Django admin login for staff. API logins go through accounts.services.credentials_verify;
    this backend calls the same function so the rules (status, timing) are the same."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        from . import services
        from custos.exceptions import CustosError

        if not username or password is None:
            return None
        try:
            user = services.credentials_verify(identifier=username, password=password)
        except CustosError:
            return None
        return user if user.is_staff else None

    def get_user(self, user_id):
        from .models import User

        try:
            user = User.objects.get(pk=user_id)
        except User.DoesNotExist:
            return None
        return user if user.is_active else None
