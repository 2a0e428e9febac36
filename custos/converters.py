from .validation import MAX_ID


class IdConverter:
    """Path ids: 1-19 ASCII digits within 64 bits (Django's int converter takes any length,
    and a 30-digit id would overflow the database driver)."""

    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if not 1 <= number <= MAX_ID:
            raise ValueError
        return number

    def to_url(self, value: int) -> str:
        return str(value)
