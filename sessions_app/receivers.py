from django.dispatch import receiver

from accounts.signals import user_tokens_invalidated


@receiver(user_tokens_invalidated, dispatch_uid="sessions_app.end_sessions_on_kick")
def _end_sessions_on_kick(sender, *, user_id, token_version, reason, **kwargs):
    from . import services

    services.user_tokens_invalidated(user_id=user_id, token_version=token_version, reason=reason)


from accounts.signals import password_changed  # noqa: E402


@receiver(password_changed, dispatch_uid="sessions_app.end_other_sessions_on_password_change")
def _end_other_sessions(sender, *, user_id, keep_session_id, **kwargs):
    from . import services

    services.sessions_end_for_user(user_id=user_id, reason="password_changed", keep_session_id=keep_session_id)
