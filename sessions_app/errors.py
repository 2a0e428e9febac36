from custos.exceptions import CustosError


class RefreshTokenInvalid(CustosError):
    status, code, message = 401, "refresh_token_invalid", "The refresh token is not valid."


class RefreshTokenReused(CustosError):
    status, code, message = 401, "refresh_token_reused", (
        "This refresh token was already used; the session has been revoked.")


class LoginDenied(CustosError):
    status, code, message = 403, "login_denied", "This sign-in was refused as too risky; contact support."
