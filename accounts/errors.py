from custos.exceptions import Conflict, CustosError


class AlreadyExists(Conflict):
    code, message = "already_exists", "An account with this identifier already exists."


class OtpInvalid(CustosError):
    status, code, message = 401, "otp_invalid", "The code is wrong, expired or already used."


class TransitionNotAllowed(Conflict):
    """409 with a specific code: cannot_<action>_<current status>."""

    def __init__(self, action: str, status: str) -> None:
        super().__init__(f"Cannot {action} an account that is {status}.", code=f"cannot_{action}_{status}")


class ResetTokenInvalid(CustosError):
    status, code, message = 400, "reset_token_invalid", "The link is invalid, expired or already used."


class EmailUnverified(CustosError):
    status, code, message = 403, "email_unverified", "Confirm your email address or phone number before signing in."
