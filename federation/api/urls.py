from django.urls import path

from . import views

urlpatterns = [
    path("v1/oauth/providers", views.ProvidersView.as_view(), name="oauth-providers"),
    path("v1/oauth/<str:provider>/login", views.LoginView.as_view(), name="oauth-login"),
    path("v1/oauth/<str:provider>/callback", views.CallbackView.as_view(), name="oauth-callback"),
    path("v1/oauth/<str:provider>/bind", views.BindView.as_view(), name="oauth-bind"),
    path("v1/oauth/<str:provider>/reauth", views.ReauthView.as_view(), name="oauth-reauth"),
    path("v1/users/me/identities", views.IdentitiesView.as_view(), name="me-identities"),
]
