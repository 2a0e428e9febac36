from drf_spectacular.utils import PolymorphicProxySerializer
from rest_framework import serializers

from accounts.api.serializers import MfaChallengeSerializer, UserSummarySerializer
from custos.fields import StrictCharField, StrictIntegerField


class LoginSerializer(serializers.Serializer):
    username = StrictCharField(max_length=254, trim_whitespace=False)
    password = StrictCharField(max_length=4096, trim_whitespace=False)


class RefreshSerializer(serializers.Serializer):
    refresh_token = StrictCharField(max_length=512, trim_whitespace=False)


class ForceLogoutSerializer(serializers.Serializer):
    user_id = StrictIntegerField(required=False, min_value=1)
    session_id = StrictCharField(required=False, max_length=36)

    def validate(self, attrs):
        if ("user_id" in attrs) == ("session_id" in attrs):
            raise serializers.ValidationError({"user_id": ["Give exactly one of user_id or session_id."]})
        return attrs


class TokenPairSerializer(serializers.Serializer):
    token_type = serializers.ChoiceField(["Bearer"])
    access_token = serializers.CharField()
    expires_in = serializers.IntegerField()
    refresh_token = serializers.CharField()
    refresh_expires_in = serializers.IntegerField()
    session_id = serializers.CharField()
    user = UserSummarySerializer()

    class Meta:
        ref_name = "TokenPair"


# A first factor answers a token pair, or an MFA challenge when a second factor is due.
SignInAnswer = PolymorphicProxySerializer(component_name="SignInAnswer", resource_type_field_name=None,
                                          serializers=[TokenPairSerializer, MfaChallengeSerializer])


class SessionSerializer(serializers.Serializer):
    session_id = serializers.CharField()
    device_id = serializers.CharField(allow_null=True)
    user_agent = serializers.CharField(allow_null=True)
    ip = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    last_seen_at = serializers.DateTimeField()
    current = serializers.BooleanField()

    class Meta:
        ref_name = "Session"
