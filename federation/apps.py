from django.apps import AppConfig


class FederationConfig(AppConfig):
    name = "federation"

    def ready(self) -> None:
        from accounts.selectors import me_contributor

        from .selectors import identities_of

        me_contributor("identities")(lambda user: identities_of(user_id=user.pk))

        from accounts.signals import user_deleted

        from .services import identities_forget

        user_deleted.connect(lambda sender, user_id, **kw: identities_forget(user_id=user_id),
                             weak=False, dispatch_uid="federation.forget_identities")

        from accounts.services.merge import proof_register
        from accounts.signals import user_merged

        from .merge import identities_merge, oauth_proof

        user_merged.connect(identities_merge, weak=False, dispatch_uid="federation.identities_merge")
        proof_register("oauth")(oauth_proof)

        from django.db.models.signals import post_delete, post_save

        from accounts.selectors import me_invalidate

        from .models import UserOAuth

        for signal in (post_save, post_delete):
            signal.connect(lambda sender, instance, **kw: me_invalidate(instance.user_id), sender=UserOAuth,
                           weak=False, dispatch_uid=f"federation.me.{signal is post_save}")

        from . import console_panels  # noqa: F401 - its panel of the console's user page
