from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from custos import metrics_view
from custos import views as core_views
from keys.api import views as key_views

handler400 = "custos.exceptions.handler400"
handler403 = "custos.exceptions.handler403"
handler404 = "custos.exceptions.handler404"
handler500 = "custos.exceptions.handler500"

urlpatterns = [
    path("healthz", core_views.healthz, name="healthz"),
    path("readyz", core_views.readyz, name="readyz"),
    path("metrics", metrics_view.metrics, name="metrics"),
    path("internal/jwks.json", key_views.jwks, name="jwks"),
    path(".well-known/jwks.json", key_views.jwks, name="jwks-well-known"),
    path(".well-known/openid-configuration", key_views.openid_configuration, name="openid-configuration"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("admin/", admin.site.urls),
    path("", include("accounts.api.urls")),
    path("", include("sessions_app.api.urls")),
    path("", include("authz.api.urls")),
    path("", include("audit.api.urls")),
]
