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


# ---- account merge (accounts/services/merge.py, docs/merge.md) ----------------------------------
class MergeSelf(Conflict):
    code, message = "merge_self", "An account cannot be merged into itself."


class MergeTargetInvalid(Conflict):
    code, message = "merge_target_invalid", "The account to merge is merged, deleted or disabled."


class MergePrimaryInvalid(Conflict):
    code, message = "merge_primary_invalid", "The account to merge into is merged, deleted or disabled."


class MergeTenantConflict(Conflict):
    code, message = ("merge_tenant_conflict",
                     "The accounts belong to different organizations; only staff can merge them.")


class MergeTypeConflict(Conflict):
    code, message = ("merge_type_conflict",
                     "A staff or partner account can only be merged with one of its kind, and only by staff.")


class MergeConflict(Conflict):
    """Another change to one of the accounts (a merge, a freeze) got there first."""

    code, message = "merge_conflict", "One of the accounts changed meanwhile; look again and retry."


class MergeProofInvalid(CustosError):
    status, code, message = 401, "merge_proof_invalid", "This does not prove control of another account."
