from rest_framework import serializers

from accounts.models import Tenant, User
from custos.fields import StrictCharField

LOGIN_RESULTS = ["success", "failure", "challenged", "denied"]  # login_history.result


class RegisterSerializer(serializers.Serializer):
    username = StrictCharField(required=False, allow_null=True, allow_blank=True, max_length=64, trim_whitespace=False)
    email = StrictCharField(required=False, allow_null=True, allow_blank=True, max_length=254)
    phone = StrictCharField(required=False, allow_null=True, allow_blank=True, max_length=32)
    password = StrictCharField(required=False, allow_null=True, trim_whitespace=False, max_length=4096)
    nickname = StrictCharField(required=False, allow_null=True, allow_blank=True, max_length=64)

    def validate(self, attrs):
        if not any(attrs.get(k) for k in ("username", "email", "phone")):
            raise serializers.ValidationError({"username": ["At least one of username, email or phone is required."]})
        if attrs.get("username") and not attrs.get("password"):
            raise serializers.ValidationError({"password": ["A password is required to register with a username."]})
        return attrs


# ---- answers (OpenAPI shapes: these document what the selectors return) -----------------------
class UserSummarySerializer(serializers.Serializer):
    """accounts.selectors.user_public: the user of a token pair and of a registration."""

    id = serializers.IntegerField()
    username = serializers.CharField(allow_null=True)
    tenant_id = serializers.IntegerField(allow_null=True)
    user_type = serializers.ChoiceField(User.UserType.choices)
    status = serializers.ChoiceField(User.Status.choices)

    class Meta:
        ref_name = "UserSummary"


class ProfileSerializer(serializers.Serializer):
    nickname = serializers.CharField(allow_null=True)
    avatar = serializers.CharField(allow_null=True)
    gender = serializers.CharField(allow_null=True)
    birthday = serializers.DateField(allow_null=True)
    extra = serializers.DictField(allow_null=True)

    class Meta:
        ref_name = "Profile"


class BoundIdentitySerializer(serializers.Serializer):
    provider = serializers.CharField()
    provider_uid = serializers.CharField()
    created_at = serializers.DateTimeField()

    class Meta:
        ref_name = "BoundIdentity"


class MeSerializer(UserSummarySerializer):
    """GET /v1/users/me (accounts.selectors.user_me, with authz's roles and federation's identities)."""

    email = serializers.CharField(allow_null=True)
    email_verified = serializers.BooleanField()
    phone = serializers.CharField(allow_null=True)
    phone_verified = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    last_login_at = serializers.DateTimeField(allow_null=True)
    profile = ProfileSerializer()
    roles = serializers.ListField(child=serializers.CharField(), help_text="my roles in my tenant")
    mfa_enabled = serializers.BooleanField()
    identities = BoundIdentitySerializer(many=True)

    class Meta:
        ref_name = "Me"


class AdminUserSerializer(UserSummarySerializer):
    """accounts.selectors.admin_user_row: a user as the B-end sees it."""

    email = serializers.CharField(allow_null=True)
    phone = serializers.CharField(allow_null=True)
    email_verified = serializers.BooleanField()
    phone_verified = serializers.BooleanField()
    nickname = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    last_login_at = serializers.DateTimeField(allow_null=True)
    status_reason = serializers.CharField(allow_null=True, allow_blank=True)
    merged_into_user_id = serializers.IntegerField(allow_null=True, help_text="a merged account: where its data went")

    class Meta:
        ref_name = "AdminUser"


class TenantSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    status = serializers.ChoiceField(Tenant.Status.choices)
    created_at = serializers.DateTimeField()

    class Meta:
        ref_name = "Tenant"


class LoginRecordSerializer(serializers.Serializer):
    """One sign-in attempt (login_history)."""

    occurred_at = serializers.DateTimeField()
    ip = serializers.CharField(allow_null=True)
    country = serializers.CharField(allow_blank=True)
    device_id = serializers.CharField(allow_blank=True)
    user_agent = serializers.CharField(allow_blank=True)
    method = serializers.CharField(help_text="password, email_otp, sms_otp, mfa, oauth:<provider>")
    result = serializers.ChoiceField(LOGIN_RESULTS)
    risk_score = serializers.IntegerField()
    reasons = serializers.ListField(child=serializers.CharField())

    class Meta:
        ref_name = "LoginRecord"


class MfaChallengeSerializer(serializers.Serializer):
    """Instead of a token pair, after a first factor, when a second one is due."""

    mfa_required = serializers.BooleanField()
    mfa_token = serializers.CharField()
    methods = serializers.ListField(child=serializers.CharField())
    expires_in = serializers.IntegerField()

    class Meta:
        ref_name = "MfaChallenge"


def list_of(name: str, item: serializers.Serializer | type) -> serializers.Serializer:
    """The list envelope of every list: {"results": [...], "next": <cursor or null>}."""
    from drf_spectacular.utils import inline_serializer

    child = item(many=True) if isinstance(item, type) else item
    return inline_serializer(name, {"results": child, "next": serializers.CharField(
        allow_null=True, help_text="the cursor of the next page (pass it as ?cursor=); null on the last page")})
