from django.apps import AppConfig


class CustosConfig(AppConfig):
    name = "custos"
    verbose_name = "Custos core"
