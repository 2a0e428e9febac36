"""Password rules (NIST SP 800-63B-4, 3.1.1.2), as Django password validators: settings'
AUTH_PASSWORD_VALIDATORS names them, so registration, password change, reset, invitations,
the admin's forms and createsuperuser all apply the same ones.

Each refusal carries a stable code (`password_too_short`, `password_too_common`,
`password_contains_context`, `password_repetitive`, `password_sequential`,
`password_keyboard_pattern`, `password_contains_date`, `password_too_guessable`,
`password_breached`, `password_too_long`): the API returns them in the error's `reasons`.
No rule here asks for character classes: NIST forbids composition rules; length, a
blocklist and context are what it asks for."""
from __future__ import annotations

import hashlib
import logging
import math
import re
import time
import urllib.error
import urllib.request
from http.client import HTTPException

from django.core.exceptions import ImproperlyConfigured, ValidationError

log = logging.getLogger("custos.passwords")


def _has_second_factor(user: object) -> bool:
    """Django hands validators the account the password is for. A saved account with a
    confirmed TOTP device uses its password as one factor of two; a new account (registration,
    the probe the services build, createsuperuser) has no second factor yet."""
    pk = getattr(user, "pk", None)
    if not pk:
        return False
    from .security.mfa import mfa_enabled

    return mfa_enabled(pk)


class MinimumLengthValidator:
    """15 characters when the password is the only factor, 8 when the account also has a
    second factor (NIST SP 800-63B-4: a single-factor password SHALL be at least 15 long, one
    used only with another factor at least 8). Length counts characters (code points)."""

    def __init__(self, min_length: int = 8, min_length_single_factor: int = 15) -> None:
        self.min_length = min_length
        self.min_length_single_factor = max(min_length, min_length_single_factor)

    def required(self, user: object = None) -> int:
        return self.min_length if _has_second_factor(user) else self.min_length_single_factor

    def validate(self, password: str, user: object = None) -> None:
        need = self.required(user)
        if len(password) < need:
            if need > self.min_length:
                message = ("This password is too short: it must contain at least %(min_length)d characters "
                           "(%(with_mfa)d once the account has a second factor).")
            else:
                message = "This password is too short: it must contain at least %(min_length)d characters."
            raise ValidationError(message, code="password_too_short",
                                  params={"min_length": need, "with_mfa": self.min_length})

    def get_help_text(self) -> str:
        return (f"Your password must contain at least {self.min_length_single_factor} characters "
                f"({self.min_length} if your account has a second factor).")


# What each weak pattern zxcvbn finds is called, and what the user is told.
REASONS = {
    "password_too_common": "This password is, or is built from, passwords and words common in breach lists.",
    "password_contains_context": "This password is built around your username, email address or this service's name.",
    "password_repetitive": "This password repeats itself (like “abcabc” or “hello1hello1”).",
    "password_sequential": "This password contains a sequence (like “12345” or “abcdef”).",
    "password_keyboard_pattern": "This password follows a keyboard pattern (like “qwerty” or “1q2w3e”).",
    "password_contains_date": "This password leans on a date or a recent year.",
    "password_too_guessable": "This password is too easy to guess.",
}
_PATTERN_REASON = {"repeat": "password_repetitive", "sequence": "password_sequential",
                   "spatial": "password_keyboard_pattern", "date": "password_contains_date",
                   "regex": "password_contains_date"}


def _reason(match: dict) -> str | None:
    if match["pattern"] == "dictionary":
        return "password_contains_context" if match["dictionary_name"] == "user_inputs" else "password_too_common"
    return _PATTERN_REASON.get(match["pattern"])


class GuessablePasswordValidator:
    """Refuses what an attacker who knows the breach lists, common words and patterns would
    try early, as zxcvbn estimates it: the 30,000 most common passwords of a 10-million-password
    breach corpus, 64,000 English words, names and surnames (about 94,000 entries together),
    and every variant of them with capitals, l33t substitutions or reversal, glued together,
    repeated (`passwordpassword`), in sequences (`123456789012345`), keyboard walks
    (`1q2w3e4r`) and dates; and context words (the username, the email address and its parts,
    the phone number, "custos", "fly"), which count as almost free guesses.

    The floor follows the factors, as the minimum length does: a password that is the only
    factor must hold out against an offline attack on a stolen hash (10^10 guesses, zxcvbn's
    "very unguessable"); one that a second factor backs needs to hold out against online
    guessing only (10^8, also what zxcvbn counts for 8 random characters, the minimum length
    there, so the two rules agree).

    Two views of the password are estimated and the weaker one counts: as typed, and without
    spaces and punctuation, since an attacker joins common words with separators as cheaply as
    without (zxcvbn alone rates "123456 password qwerty" at 10^13, its squeezed form at 10^8;
    see _views).
    And the password without its context words must reach the floor on its own: a username
    with a year glued on is refused; a long passphrase that happens to contain it is not.

    Only the first ANALYSED characters are analysed: the estimate's cost grows with length (a
    crafted 64-character password costs zxcvbn ~0.4 s, 40 characters ~0.2 s), and a prefix
    that is already past the floor makes the whole password so."""

    ANALYSED = 40

    def __init__(self, min_guesses_log10: float = 8, min_guesses_log10_single_factor: float = 10,
                 context_words: tuple[str, ...] | list[str] = ("custos", "fly"),
                 user_attributes: tuple[str, ...] = ("username", "email", "phone")) -> None:
        self.min_guesses_log10 = min_guesses_log10
        self.min_guesses_log10_single_factor = max(min_guesses_log10, min_guesses_log10_single_factor)
        self.context_words = tuple(w.lower() for w in context_words if w)
        self.user_attributes = user_attributes

    def context(self, user: object = None) -> list[str]:
        words = list(self.context_words)
        for attribute in self.user_attributes:
            value = getattr(user, attribute, None)
            if not isinstance(value, str) or not value:
                continue
            words.append(value)
            if attribute == "email":
                local = value.rsplit("@", 1)[0]
                words += [local, *re.split(r"[._+\-]+", local)]
            elif attribute == "phone":
                digits = re.sub(r"\D", "", value)
                words += [digits, digits[-8:]]
        # one or two letters would match everywhere and say nothing; longest first for removal
        return sorted({w.lower() for w in words if len(w) >= 3}, key=lambda w: (-len(w), w))

    def reasons(self, password: str, user: object = None) -> list[str]:
        """Why the password is too guessable; empty when it is not."""
        floor = self.min_guesses_log10 if _has_second_factor(user) else self.min_guesses_log10_single_factor
        prefix = password[:self.ANALYSED]
        context = self.context(user)
        weakest = min(_views(prefix, context), key=lambda e: e[0])
        found: list[str] = []
        if _log10(weakest[0]) < floor:
            found = [r for r in (_reason(m) for m in weakest[1]) if r] or ["password_too_guessable"]
        rest = prefix.lower()
        for word in context:
            rest = rest.replace(word, "")
        if rest != prefix.lower() and _log10(min(_views(rest, []))[0]) < floor:
            found.append("password_contains_context")
        return list(dict.fromkeys(found))

    def validate(self, password: str, user: object = None) -> None:
        found = self.reasons(password, user)
        if found:
            raise ValidationError([ValidationError(REASONS[r], code=r) for r in found])

    def get_help_text(self) -> str:
        return ("Your password cannot be a common or breached password, a repetition, a sequence, a keyboard "
                "pattern, or built around your username, your email address or this service's name.")


def _views(password: str, context: list[str]) -> list[tuple[float, list[dict]]]:
    """The estimate as typed and, when it has separators, without them: joining common words
    with spaces or dashes makes them no harder to guess, but zxcvbn counts every separator
    as a segment of its own and each segment as 10^4 more guesses. Which separators were used
    is still something to guess: 10 guesses for each distinct one (zxcvbn's price of one
    random character), once, not at every join; a random password with symbols keeps its
    strength that way."""
    views = [estimate(password, context)]
    separators = set(re.findall(r"[\W_]", password))
    if separators:
        guesses, sequence = estimate(re.sub(r"[\W_]+", "", password), context)
        views.append((guesses * 10 ** len(separators), sequence))
    return views


def _log10(guesses: float) -> float:
    return math.log10(max(guesses, 1))


def estimate(password: str, context: list[str]) -> tuple[float, list[dict]]:
    """zxcvbn's guess estimate and the match sequence behind it. zxcvbn() itself writes the
    context into a module-level dictionary (a race between two threads checking two users'
    passwords); the same steps here give each call its own copy."""
    if not password:
        return 1, []
    from zxcvbn import matching, scoring

    dictionaries = {name: ranked for name, ranked in matching.RANKED_DICTIONARIES.items() if name != "user_inputs"}
    dictionaries["user_inputs"] = matching.build_ranked_dict(context)
    result = scoring.most_guessable_match_sequence(password, matching.omnimatch(password, dictionaries))
    return result["guesses"], result["sequence"]


class BreachedPasswordValidator:
    """An optional online check against a breach corpus with k-anonymity (the shape of Have I
    Been Pwned's range API): only the first 5 hex digits of the password's SHA-1 leave the
    process, `GET {url}/{PREFIX}` answers `SUFFIX:COUNT` lines, and the match is made here.
    Padding is asked for, so the answer's size does not narrow the prefix down either.

    The service is a help, not a gate: when it is slow, down or answers nonsense, the
    password is judged by the other rules alone and a warning is logged (never the password
    nor any part of its hash). `timeout` bounds the whole exchange, in seconds."""

    MAX_BODY = 4 * 1024 * 1024  # a real range answer is well under 100 KiB

    def __init__(self, url: str = "", timeout: float = 1.5) -> None:
        if url and not url.startswith(("https://", "http://")):
            raise ImproperlyConfigured("CUSTOS_BREACHED_PASSWORD_URL must be an http(s) URL.")
        self.url = url.rstrip("/")
        self.timeout = timeout

    def validate(self, password: str, user: object = None) -> None:
        if not self.url:
            return
        # a lone surrogate is hashed as it stands rather than failing the check
        digest = hashlib.sha1(password.encode("utf-8", "surrogatepass"), usedforsecurity=False).hexdigest().upper()
        count = self.times_seen(digest[:5], digest[5:])
        if count:
            raise ValidationError("This password has appeared in a data breach, so attackers try it: choose another.",
                                  code="password_breached")

    def times_seen(self, prefix: str, suffix: str) -> int | None:
        """How often the corpus has seen the password; None when the service could not say."""
        started = time.monotonic()
        request = urllib.request.Request(f"{self.url}/{prefix}",  # noqa: S310 - the scheme is checked in __init__
                                         headers={"Add-Padding": "true", "User-Agent": "custos-password-check"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - as above
                if response.status != 200:
                    raise HTTPException(f"status {response.status}")
                body = b""
                while chunk := response.read(65536):
                    body += chunk
                    if len(body) > self.MAX_BODY:
                        raise HTTPException("answer too large")
                    if time.monotonic() - started > self.timeout:
                        raise TimeoutError("answer too slow")
            for line in body.decode("ascii", "replace").splitlines():
                seen, _, times = line.partition(":")
                if seen.strip().upper() == suffix:
                    return int(times.strip() or "0")
            return 0
        except (OSError, HTTPException, ValueError) as exc:  # URLError and timeouts are OSErrors
            log.warning("breached-password service unavailable: password judged without it",
                        extra={"error": type(exc).__name__, "elapsed_ms": round((time.monotonic() - started) * 1000)})
            return None

    def get_help_text(self) -> str:
        return "Your password cannot be one that has appeared in a data breach."


class MaximumLengthValidator:
    """Long passphrases are welcome, but an unbounded one is a hashing DoS: 4096 characters
    is far above any real passphrase and far below what hurts. Nothing is ever truncated."""

    max_length = 4096

    def validate(self, password: str, user=None) -> None:
        if len(password) > self.max_length:
            raise ValidationError("This password is too long.", code="password_too_long")

    def get_help_text(self) -> str:
        return f"Your password can be at most {self.max_length} characters."
