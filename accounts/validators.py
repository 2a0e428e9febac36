from django.core.exceptions import ValidationError


class MaximumLengthValidator:
    """Long passphrases are welcome, but an unbounded one is a hashing DoS: 4096 characters
    is far above any real passphrase and far below what hurts. Nothing is ever truncated."""

    max_length = 4096

    def validate(self, password: str, user=None) -> None:
        if len(password) > self.max_length:
            raise ValidationError("This password is too long.", code="password_too_long")

    def get_help_text(self) -> str:
        return f"Your password can be at most {self.max_length} characters."
