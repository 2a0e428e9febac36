from __future__ import annotations

from custos.exceptions import CustosError


class OAuthStateInvalid(CustosError):
    """The state is unknown, spent, expired, altered, or belongs to another provider, redirect
    URI or user."""

    status, code, message = 400, "oauth_state_invalid", "The sign-in state is not valid; start again."


class OAuthFailed(CustosError):
    """The provider refused the code, or what it sent back did not validate."""

    status, code, message = 401, "oauth_failed", "The identity provider's answer could not be accepted."


class AccountExists(CustosError):
    status, code, message = (409, "account_exists",
                             "An account with this email exists; sign in to it and bind this provider.")


class ProviderUnknown(CustosError):
    status, code, message = 404, "not_found", "No such identity provider."


class RedirectUriRefused(CustosError):
    status, code, message = 400, "validation_error", "The request is not valid."

    def __init__(self) -> None:
        super().__init__(fields={"redirect_uri": ["Not an allowed redirect URI."]})


class IdentityAlreadyBound(CustosError):
    status, code, message = 409, "identity_already_bound", "This external identity is bound to another account."


class LastLoginMethod(CustosError):
    status, code, message = 409, "last_login_method", "This is the account's last way to sign in."


class IdentityNotBound(CustosError):
    status, code, message = 404, "not_found", "No identity of this provider is bound to the account."


class IdentityMismatch(CustosError):
    """Re-authentication through a provider answered for an identity not bound to the caller."""

    status, code, message = (403, "identity_mismatch",
                             "The provider answered for an identity that is not bound to this account.")
