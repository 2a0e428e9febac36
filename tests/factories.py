import factory
from django.utils import timezone

from accounts.models import Tenant, User, UserProfile

PASSWORD = "correct horse battery staple"


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant

    name = factory.Sequence(lambda n: f"tenant-{n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    # a typical account has proven its address; tests of unproven ones pass None
    email_verified_at = factory.LazyAttribute(lambda o: timezone.now() if o.email else None)
    status = User.Status.ACTIVE

    @factory.post_generation
    def password(obj, create, extracted, **kwargs):  # noqa: N805
        obj.set_password(extracted or PASSWORD)
        if create:
            obj.save(update_fields=["password"])
            UserProfile.objects.get_or_create(user=obj)
