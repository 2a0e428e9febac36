from django.urls import path

from . import views

urlpatterns = [
    path("v1/auth/register", views.RegisterView.as_view(), name="register"),
    path("v1/users/me", views.MeView.as_view(), name="me"),
]
