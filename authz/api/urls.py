from django.urls import path

from . import views

urlpatterns = [
    path("v1/authz/check", views.CheckView.as_view(), name="authz-check"),
    path("v1/authz/check-batch", views.CheckBatchView.as_view(), name="authz-check-batch"),
    path("v1/authz/roles", views.RolesView.as_view(), name="authz-roles"),
    path("v1/authz/roles/<str:role>", views.RoleDetailView.as_view(), name="authz-role"),
    path("v1/authz/roles/<str:role>/permissions", views.RolePermissionsView.as_view(), name="authz-role-perms"),
    path("v1/authz/users/<id:user_id>/roles", views.UserRolesView.as_view(), name="authz-user-roles"),
    path("v1/authz/users/<id:user_id>/roles/<str:role>", views.UserRoleDetailView.as_view(),
         name="authz-user-role"),
    path("v1/authz/me/permissions", views.MyPermissionsView.as_view(), name="authz-my-permissions"),
]
