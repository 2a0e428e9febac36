from django.urls import path

from . import views

urlpatterns = [
    path("v1/audit/events", views.EventsView.as_view(), name="audit-events"),
    path("v1/audit/events/export", views.ExportView.as_view(), name="audit-export"),
]
