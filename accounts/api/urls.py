from django.urls import path

from .views import admin_users, contacts, logins, merge, mfa, passwords, profile, tenants

urlpatterns = [
    path("v1/auth/register", profile.RegisterView.as_view(), name="register"),
    path("v1/auth/reauth", passwords.ReauthView.as_view(), name="reauth"),
    path("v1/auth/password/change", passwords.PasswordChangeView.as_view(), name="password-change"),
    path("v1/auth/password/reset/request", passwords.PasswordResetRequestView.as_view(),
         name="password-reset-request"),
    path("v1/auth/password/reset/confirm", passwords.PasswordResetConfirmView.as_view(),
         name="password-reset-confirm"),
    path("v1/users/me", profile.MeView.as_view(), name="me"),
    path("v1/users/me/email", contacts.EmailChangeStartView.as_view(), name="me-email"),
    path("v1/users/me/email/verify", contacts.EmailChangeVerifyView.as_view(), name="me-email-verify"),
    path("v1/users/me/phone", contacts.PhoneChangeStartView.as_view(), name="me-phone"),
    path("v1/users/me/phone/verify", contacts.PhoneChangeVerifyView.as_view(), name="me-phone-verify"),
    path("v1/users/me/logins", logins.MyLoginsView.as_view(), name="me-logins"),
    path("v1/account/merge", merge.AccountMergeView.as_view(), name="account-merge"),
    path("v1/mfa/totp/setup", mfa.TotpSetupView.as_view(), name="totp-setup"),
    path("v1/mfa/totp/confirm", mfa.TotpConfirmView.as_view(), name="totp-confirm"),
    path("v1/mfa/totp", mfa.TotpView.as_view(), name="totp"),
    path("v1/mfa/backup-codes", mfa.BackupCodesView.as_view(), name="backup-codes"),
    path("v1/admin/users", admin_users.AdminUsersView.as_view(), name="admin-users"),
    path("v1/admin/users/<id:user_id>/logins", logins.AdminUserLoginsView.as_view(), name="admin-user-logins"),
    path("v1/admin/users/<id:user_id>/mfa/reset", mfa.AdminUserMfaResetView.as_view(),
         name="admin-user-mfa-reset"),
    path("v1/admin/users/<id:user_id>", admin_users.AdminUserView.as_view(), name="admin-user"),
    *[path(f"v1/admin/users/<id:user_id>/{name}", admin_users.action_view(name), name=f"admin-user-{name}")
      for name in ("activate", "freeze", "unlock", "delete", "lock")],
    path("v1/admin/tenants", tenants.TenantsView.as_view(), name="admin-tenants"),
    path("v1/admin/tenants/<id:tenant_id>", tenants.TenantView.as_view(), name="admin-tenant"),
    path("v1/admin/tenants/<id:tenant_id>/disable",
         type("TenantDisableView", (tenants.TenantActionView,), {"enable": False}).as_view(), name="tenant-disable"),
    path("v1/admin/tenants/<id:tenant_id>/enable",
         type("TenantEnableView", (tenants.TenantActionView,), {"enable": True}).as_view(), name="tenant-enable"),
]
