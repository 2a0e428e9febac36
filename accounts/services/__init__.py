"""accounts' write side, one module per capability; import from here."""
from .addresses import address_proven
from .credentials import credentials_check, credentials_verify, user_mark_login
from .lifecycle import TRANSITIONS, deleted_identifiers_free, user_token_version_bump, user_transition
from .merge import MergeResult, Proven, account_merge, account_merge_request, proof_register, secondary_prove
from .otp import otp_issue, otp_verify
from .passwords import password_change, password_invite, password_reset_confirm, password_reset_request
from .profile import contact_change_finish, contact_change_start, profile_update
from .reauth import ReauthRequired, reauth_token_check, reauth_token_issue, reauth_with_password
from .registration import (
    admin_user_create,
    admin_user_update,
    contact_mark_verified,
    normalize_identifiers,
    password_check_policy,
    user_create,
    user_register,
)
from .tenants import tenant_create, tenant_disable, tenant_enable, tenant_rename

__all__ = [
    "credentials_check", "credentials_verify", "user_mark_login",
    "TRANSITIONS", "deleted_identifiers_free", "user_token_version_bump",
    "user_transition", "otp_issue", "otp_verify", "password_change", "password_invite", "password_reset_confirm",
    "password_reset_request", "contact_change_finish", "contact_change_start", "profile_update",
    "admin_user_create", "admin_user_update", "normalize_identifiers", "password_check_policy", "user_create",
    "tenant_create", "tenant_disable", "tenant_enable", "tenant_rename", "ReauthRequired", "reauth_token_check",
    "reauth_token_issue", "reauth_with_password", "contact_mark_verified", "user_register", "address_proven",
    "MergeResult", "Proven", "account_merge", "account_merge_request", "proof_register", "secondary_prove",
]
