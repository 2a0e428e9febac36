from django.contrib.admin.apps import AdminConfig


class ConsoleConfig(AdminConfig):
    """django.contrib.admin with Custos's site (config.admin.CustosAdminSite) as admin.site."""

    default_site = "config.admin.CustosAdminSite"
