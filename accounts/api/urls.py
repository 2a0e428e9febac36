from django.urls import path

from . import views

urlpatterns = [
    path("v1/auth/register", views.RegisterView.as_view(), name="register"),
    path("v1/auth/reauth", views.ReauthView.as_view(), name="reauth"),
    path("v1/auth/password/change", views.PasswordChangeView.as_view(), name="password-change"),
    path("v1/auth/password/reset/request", views.PasswordResetRequestView.as_view(), name="password-reset-request"),
    path("v1/auth/password/reset/confirm", views.PasswordResetConfirmView.as_view(), name="password-reset-confirm"),
    path("v1/users/me", views.MeView.as_view(), name="me"),
    path("v1/users/me/email", views.EmailChangeStartView.as_view(), name="me-email"),
    path("v1/users/me/email/verify", views.EmailChangeVerifyView.as_view(), name="me-email-verify"),
    path("v1/users/me/phone", views.PhoneChangeStartView.as_view(), name="me-phone"),
    path("v1/users/me/phone/verify", views.PhoneChangeVerifyView.as_view(), name="me-phone-verify"),
    path("v1/users/me/logins", views.MyLoginsView.as_view(), name="me-logins"),
    path("v1/mfa/totp/setup", views.TotpSetupView.as_view(), name="totp-setup"),
    path("v1/mfa/totp/confirm", views.TotpConfirmView.as_view(), name="totp-confirm"),
    path("v1/mfa/totp", views.TotpView.as_view(), name="totp"),
    path("v1/mfa/backup-codes", views.BackupCodesView.as_view(), name="backup-codes"),
    path("v1/admin/users", views.AdminUsersView.as_view(), name="admin-users"),
    path("v1/admin/users/<id:user_id>/logins", views.AdminUserLoginsView.as_view(), name="admin-user-logins"),
    path("v1/admin/users/<id:user_id>/mfa/reset", views.AdminUserMfaResetView.as_view(), name="admin-user-mfa-reset"),
    path("v1/admin/users/<id:user_id>", views.AdminUserView.as_view(), name="admin-user"),
    *[path(f"v1/admin/users/<id:user_id>/{name}", views.action_view(name), name=f"admin-user-{name}")
      for name in ("activate", "freeze", "unlock", "delete", "lock")],
    path("v1/admin/tenants", views.TenantsView.as_view(), name="admin-tenants"),
    path("v1/admin/tenants/<id:tenant_id>", views.TenantView.as_view(), name="admin-tenant"),
    path("v1/admin/tenants/<id:tenant_id>/disable",
         type("TenantDisableView", (views.TenantActionView,), {"enable": False}).as_view(), name="tenant-disable"),
    path("v1/admin/tenants/<id:tenant_id>/enable",
         type("TenantEnableView", (views.TenantActionView,), {"enable": True}).as_view(), name="tenant-enable"),
]
