from rest_framework import serializers

from custos.fields import StrictCharField


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
