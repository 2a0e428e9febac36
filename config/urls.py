from django.contrib import admin
from django.urls import include, path, register_converter
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.negotiation import DefaultContentNegotiation

from accounts.console_setup import setup_page
from config import hot
from custos import metrics_view
from custos import views as core_views
from custos.converters import IdConverter
from keys.api import views as key_views

register_converter(IdConverter, "id")

handler400 = "custos.exceptions.handler400"
handler403 = "custos.exceptions.handler403"
handler404 = "custos.exceptions.handler404"
handler500 = "custos.exceptions.handler500"

# The lean paths (config/hot.py lists each with its reason) come first: Django tries patterns in order.
urlpatterns = [
    *hot.urlpatterns,
    path("healthz", core_views.healthz, name="healthz"),
    path("readyz", core_views.readyz, name="readyz"),
    path("metrics", metrics_view.metrics, name="metrics"),
    path(".well-known/jwks.json", key_views.jwks, name="jwks-well-known"),
    path(".well-known/openid-configuration", key_views.openid_configuration, name="openid-configuration"),
    # the schema and docs pages speak YAML, JSON and HTML: DRF's full negotiation there
    path("api/schema/", SpectacularAPIView.as_view(content_negotiation_class=DefaultContentNegotiation),
         name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema",
                                                    content_negotiation_class=DefaultContentNegotiation),
         name="docs"),
    path("admin/", admin.site.urls),
    path("setup/", setup_page, name="console-setup"),
    path("", include("accounts.api.urls")),
    path("", include("sessions_app.api.urls")),
    path("", include("authz.api.urls")),
    path("", include("audit.api.urls")),
    path("", include("federation.api.urls")),
]
