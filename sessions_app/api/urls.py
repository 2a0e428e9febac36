from django.urls import path

from . import internal, views

urlpatterns = [
    path("v1/auth/login", views.LoginView.as_view(), name="login"),
    path("v1/auth/refresh", views.RefreshView.as_view(), name="refresh"),
    path("v1/auth/otp/send", views.OtpSendView.as_view(), name="otp-send"),
    path("v1/auth/otp/verify", views.OtpVerifyView.as_view(), name="otp-verify"),
    path("v1/auth/mfa/verify", views.MfaVerifyView.as_view(), name="mfa-verify"),
    path("v1/auth/logout", views.LogoutView.as_view(), name="logout"),
    path("v1/auth/force-logout", views.ForceLogoutView.as_view(), name="force-logout"),
    path("v1/sessions", views.SessionListView.as_view(), name="sessions"),
    path("v1/sessions/<str:session_id>", views.SessionDetailView.as_view(), name="session-detail"),
    path("internal/revocations", internal.RevocationsView.as_view(), name="revocations"),
    path("internal/introspect", internal.IntrospectView.as_view(), name="introspect"),
]
