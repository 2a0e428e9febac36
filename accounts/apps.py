from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from . import notices  # noqa: F401 - registers its Celery task with the worker
        from .models import TotpDevice, User, UserProfile
        from .selectors import me_invalidate

        def stale(sender, instance, **kwargs) -> None:
            me_invalidate(instance.pk if sender is User else instance.user_id)

        for model in (User, UserProfile, TotpDevice):
            post_save.connect(stale, sender=model, weak=False, dispatch_uid=f"accounts.me.{model.__name__}.save")
            post_delete.connect(stale, sender=model, weak=False, dispatch_uid=f"accounts.me.{model.__name__}.del")
