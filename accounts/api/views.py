"""Thin interfaces over accounts.services / selectors."""
from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from accounts.models import Tenant, User
from accounts.security import mfa, risk
from audit.services import Actor
from custos import policy
from custos.exceptions import NotFound, PermissionDeniedError, ValidationFailed
from custos.pagination import page, parse_limit
from custos.permissions import IsAuthenticatedPrincipal
from custos.validation import body_of as _body
from custos.validation import parse_id, require_str

from .serializers import RegisterSerializer

UserOut = inline_serializer("User", {
    "id": serializers.IntegerField(), "username": serializers.CharField(allow_null=True),
    "tenant_id": serializers.IntegerField(allow_null=True), "user_type": serializers.CharField(),
    "status": serializers.CharField()})
Generic = inline_serializer("Object", {"id": serializers.IntegerField()})


def actor_of(principal) -> Actor:
    return Actor.service(principal.name) if getattr(principal, "is_service", False) else Actor.user(principal.id)


def require_reauth(request) -> None:
    services.reauth_token_check(token=request.META.get("HTTP_X_REAUTH_TOKEN"), user_id=request.user.id,
                                session_id=request.user.session_id)


class RegisterView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(request=RegisterSerializer, responses={201: inline_serializer("Registered", {"user": UserOut})},
                   summary="Self-service registration (C-end)")
    def post(self, request):
        s = RegisterSerializer(data=request.data)
        s.is_valid(raise_exception=True)
        user = services.user_create(**s.validated_data)
        return Response({"user": selectors.user_public(user)}, status=status.HTTP_201_CREATED)


class MeView(APIView):
    @extend_schema(summary="The caller's user, profile, roles, MFA state and identities", responses={200: Generic})
    def get(self, request):
        data = selectors.user_me(user_id=request.user.id, tenant_id=request.user.tenant_id)
        if data is None:
            raise NotFound()
        return Response(data)

    @extend_schema(summary="Change profile fields (nickname, avatar, gender, birthday, extra)",
                   request=inline_serializer("ProfilePatch", {
                       "nickname": serializers.CharField(required=False, allow_null=True),
                       "avatar": serializers.URLField(required=False, allow_null=True),
                       "gender": serializers.ChoiceField(["male", "female", "other"], required=False),
                       "birthday": serializers.DateField(required=False, allow_null=True),
                       "extra": serializers.DictField(required=False, allow_null=True)}),
                   responses={200: Generic})
    def patch(self, request):
        services.profile_update(user_id=request.user.id, data=_body(request), actor=Actor.user(request.user.id))
        return self.get(request)

    @extend_schema(summary="Delete my account (needs X-Reauth-Token)", responses={204: None})
    def delete(self, request):
        require_reauth(request)
        services.user_transition(user_id=request.user.id, action="delete", actor=Actor.user(request.user.id),
                                 reason="self_service")
        return Response(status=status.HTTP_204_NO_CONTENT)


def _contact_views(channel: str) -> tuple[type[APIView], type[APIView]]:
    field = "email" if channel == "email" else "phone"

    class Start(APIView):
        @extend_schema(summary=f"Start changing my {field}: a code goes to the new address (needs X-Reauth-Token)",
                       request=inline_serializer(f"{field.title()}ChangeStart", {field: serializers.CharField()}),
                       responses={202: None})
        def post(self, request):
            require_reauth(request)
            user = selectors.user_get(user_id=request.user.id)
            services.contact_change_start(user=user, channel=channel, value=_body(request).get(field))
            return Response({"retry_after": 60}, status=status.HTTP_202_ACCEPTED)

    class Verify(APIView):
        @extend_schema(summary=f"Finish changing my {field} with the code",
                       request=inline_serializer(f"{field.title()}ChangeVerify", {
                           field: serializers.CharField(), "code": serializers.CharField()}),
                       responses={200: Generic})
        def post(self, request):
            body = _body(request)
            user = selectors.user_get(user_id=request.user.id)
            services.contact_change_finish(user=user, channel=channel, value=body.get(field), code=body.get("code"),
                                           actor=Actor.user(request.user.id))
            return Response(selectors.user_me(user_id=request.user.id, tenant_id=request.user.tenant_id))

    Start.__name__, Verify.__name__ = f"{field.title()}ChangeStartView", f"{field.title()}ChangeVerifyView"
    return Start, Verify


EmailChangeStartView, EmailChangeVerifyView = _contact_views("email")
PhoneChangeStartView, PhoneChangeVerifyView = _contact_views("sms")


class ReauthView(APIView):
    @extend_schema(summary="Prove a fresh password check for a sensitive operation",
                   request=inline_serializer("Reauth", {"password": serializers.CharField(required=False),
                                                        "code": serializers.CharField(required=False)}),
                   responses={200: inline_serializer("ReauthToken", {"reauth_token": serializers.CharField(),
                                                                     "expires_in": serializers.IntegerField()})})
    def post(self, request):
        body = _body(request)
        if "password" in body:
            token = services.reauth_with_password(user_id=request.user.id, session_id=request.user.session_id,
                                                  password=require_str(body, "password"))
        elif "code" in body:
            method = mfa.second_factor_check(user_id=request.user.id, code=require_str(body, "code", max_length=32),
                                             method=None)
            token = services.reauth_token_issue(user_id=request.user.id, session_id=request.user.session_id,
                                                method=method)
        else:
            raise ValidationFailed(fields={"password": ["Give your password, or a code from your authenticator."]})
        response = Response({"reauth_token": token, "expires_in": 300})
        response["Cache-Control"] = "no-store"
        return response


class PasswordChangeView(APIView):
    @extend_schema(summary="Change my password; my other sessions end",
                   request=inline_serializer("PasswordChange", {"current_password": serializers.CharField(),
                                                                "new_password": serializers.CharField()}),
                   responses={204: None})
    def post(self, request):
        body = _body(request)
        current, new = body.get("current_password"), body.get("new_password")
        if not isinstance(current, str) or not isinstance(new, str):
            raise ValidationFailed(fields={k: ["This field is required."] for k, v in
                                           (("current_password", current), ("new_password", new))
                                           if not isinstance(v, str)})
        services.password_change(user_id=request.user.id, current_password=current, new_password=new,
                                 keep_session_id=request.user.session_id, actor=Actor.user(request.user.id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class PasswordResetRequestView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(summary="Ask for a reset link (202 whether or not the account exists)",
                   request=inline_serializer("ResetRequest", {"identifier": serializers.CharField()}),
                   responses={202: None})
    def post(self, request):
        services.password_reset_request(identifier=_body(request).get("identifier"))
        return Response({"status": "accepted"}, status=status.HTTP_202_ACCEPTED)


class PasswordResetConfirmView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(summary="Set a new password with a reset (or invitation) token; every session ends",
                   request=inline_serializer("ResetConfirm", {"token": serializers.CharField(),
                                                              "new_password": serializers.CharField()}),
                   responses={204: None})
    def post(self, request):
        body = _body(request)
        services.password_reset_confirm(token=require_str(body, "token", max_length=256),
                                        new_password=require_str(body, "new_password"))
        return Response(status=status.HTTP_204_NO_CONTENT)


# ---- B-end: staff and tenant admins ---------------------------------------------------------
def _target(request, user_id: int, act: str) -> User:
    """The user, if the caller may act on users of that user's tenant (or platform-wide)."""
    p = policy.provider()
    user = selectors.user_get(user_id=user_id)
    # Users the caller cannot even read are "not found": ids of other tenants cannot be probed.
    if user is None or not p.allowed(request, user.tenant_id, "/users", "read"):
        raise NotFound("No such user.")
    if act != "read" and not p.allowed(request, user.tenant_id, "/users", act):
        raise PermissionDeniedError()
    return user


class AdminUsersView(APIView):
    permission_classes = [IsAuthenticatedPrincipal]

    @extend_schema(summary="Users visible to the caller, filtered, newest first", operation_id="v1_admin_users_list",
                   parameters=[OpenApiParameter(n, str) for n in ("tenant_id", "status", "user_type", "q", "cursor",
                                                                  "limit")],
                   responses={200: inline_serializer("AdminUserList", {
                       "results": serializers.ListField(child=serializers.DictField()),
                       "next": serializers.CharField(allow_null=True)})})
    def get(self, request):
        visible = policy.provider().tenants_visible(request, "/users", "read")
        if visible == []:
            raise PermissionDeniedError()
        p = request.query_params
        st, ut, q = p.get("status"), p.get("user_type"), p.get("q")
        if st and st not in User.Status.values:
            raise ValidationFailed(fields={"status": [f"One of {', '.join(User.Status.values)}."]})
        if ut and ut not in User.UserType.values:
            raise ValidationFailed(fields={"user_type": [f"One of {', '.join(User.UserType.values)}."]})
        if q is not None and (len(q) > 128 or not q.strip()):
            raise ValidationFailed(fields={"q": ["1 to 128 characters."]})
        qs = selectors.admin_users(tenant_ids=visible, tenant_id=parse_id(p.get("tenant_id"), "tenant_id"),
                                   status=st, user_type=ut, q=q.strip() if q else None)
        rows, nxt = page(qs, cursor=p.get("cursor"), limit=parse_limit(p.get("limit")))
        return Response({"results": [selectors.admin_user_row(u) for u in rows], "next": nxt})

    @extend_schema(summary="Create a user (B-end): an initial password or an invitation",
                   request=inline_serializer("AdminUserCreate", {
                       "username": serializers.CharField(required=False), "email": serializers.CharField(required=False),
                       "phone": serializers.CharField(required=False), "password": serializers.CharField(required=False),
                       "user_type": serializers.CharField(required=False),
                       "tenant_id": serializers.IntegerField(required=False),
                       "roles": serializers.ListField(child=serializers.CharField(), required=False),
                       "invite": serializers.BooleanField(required=False)}),
                   responses={201: Generic})
    def post(self, request):
        body = _body(request)
        tenant_id = parse_id(body.get("tenant_id"), "tenant_id")
        if tenant_id is None and getattr(request.user, "tenant_id", None) is not None:
            tenant_id = request.user.tenant_id  # a tenant admin creates in their own tenant by default
        if not policy.provider().allowed(request, tenant_id, "/users", "write"):
            raise PermissionDeniedError()
        roles = body.get("roles") or []
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles) or len(roles) > 20:
            raise ValidationFailed(fields={"roles": ["A list of role names."]})
        for key in ("username", "email", "phone", "password", "nickname"):
            if body.get(key) is not None and not isinstance(body.get(key), str):
                raise ValidationFailed(fields={key: ["Must be a string."]})
        if not isinstance(body.get("invite", False), bool):
            raise ValidationFailed(fields={"invite": ["Must be a boolean."]})
        user = services.admin_user_create(
            actor=actor_of(request.user), username=body.get("username"), email=body.get("email"),
            phone=body.get("phone"), password=body.get("password"),
            user_type=body.get("user_type", User.UserType.CUSTOMER), tenant_id=tenant_id,
            invite=body.get("invite", False), nickname=body.get("nickname"), roles=roles)
        return Response(selectors.admin_user_row(selectors.user_get(user_id=user.pk)), status=status.HTTP_201_CREATED)


class AdminUserView(APIView):
    permission_classes = [IsAuthenticatedPrincipal]

    @extend_schema(summary="One user", responses={200: Generic})
    def get(self, request, user_id: int):
        return Response(selectors.admin_user_row(_target(request, user_id, "read")))

    @extend_schema(summary="Correct a user's identifiers or type", request=Generic, responses={200: Generic})
    def patch(self, request, user_id: int):
        _target(request, user_id, "write")
        user = services.admin_user_update(user_id=user_id, data=_body(request), actor=actor_of(request.user))
        return Response(selectors.admin_user_row(selectors.user_get(user_id=user.pk)))


class AdminUserActionView(APIView):
    permission_classes = [IsAuthenticatedPrincipal]
    action_name = ""

    @extend_schema(summary="Change an account's state (audited; freeze and delete end every session)",
                   request=inline_serializer("StateChange", {"reason": serializers.CharField(required=False)}),
                   responses={200: Generic})
    def post(self, request, user_id: int):
        _target(request, user_id, "write")
        reason = _body(request).get("reason") or ""
        if not isinstance(reason, str) or len(reason) > 200:
            raise ValidationFailed(fields={"reason": ["At most 200 characters."]})
        user = services.user_transition(user_id=user_id, action=self.action_name, actor=actor_of(request.user),
                                        reason=reason)
        return Response(selectors.admin_user_row(user))


def action_view(name: str) -> Any:
    return type(f"AdminUser{name.title()}View", (AdminUserActionView,), {"action_name": name}).as_view()


def _tenant_row(t: Tenant) -> dict:
    return {"id": t.pk, "name": t.name, "status": t.status, "created_at": t.created_at}


class TenantsView(APIView):
    permission_classes = [IsAuthenticatedPrincipal]

    @extend_schema(summary="Tenants visible to the caller", responses={200: Generic}, operation_id="v1_admin_tenants_list")
    def get(self, request):
        visible = policy.provider().tenants_visible(request, "/tenants", "read")
        if visible == []:
            raise PermissionDeniedError()
        qs = Tenant.objects.all() if visible is None else Tenant.objects.filter(pk__in=visible)
        rows, nxt = page(qs, cursor=request.query_params.get("cursor"),
                         limit=parse_limit(request.query_params.get("limit")))
        return Response({"results": [_tenant_row(t) for t in rows], "next": nxt})

    @extend_schema(summary="Create a tenant (platform staff)",
                   request=inline_serializer("TenantCreate", {"name": serializers.CharField()}),
                   responses={201: Generic})
    def post(self, request):
        if not policy.provider().allowed(request, None, "/tenants", "write"):
            raise PermissionDeniedError()
        tenant = services.tenant_create(name=_body(request).get("name"), actor=actor_of(request.user))
        return Response(_tenant_row(tenant), status=status.HTTP_201_CREATED)


class TenantView(APIView):
    permission_classes = [IsAuthenticatedPrincipal]

    @extend_schema(summary="Rename a tenant", request=inline_serializer("TenantRename", {
        "name": serializers.CharField()}), responses={200: Generic})
    def patch(self, request, tenant_id: int):
        if not policy.provider().allowed(request, None, "/tenants", "write"):
            raise PermissionDeniedError()
        tenant = services.tenant_rename(tenant_id=tenant_id, name=_body(request).get("name"),
                                        actor=actor_of(request.user))
        return Response(_tenant_row(tenant))


class TenantActionView(APIView):
    permission_classes = [IsAuthenticatedPrincipal]
    enable = True

    @extend_schema(summary="Disable (signs every user of the tenant out) or enable a tenant", request=None,
                   responses={200: Generic})
    def post(self, request, tenant_id: int):
        if not policy.provider().allowed(request, None, "/tenants", "write"):
            raise PermissionDeniedError()
        fn = services.tenant_enable if self.enable else services.tenant_disable
        return Response(_tenant_row(fn(tenant_id=tenant_id, actor=actor_of(request.user))))


# ---- second factors and sign-in history -----------------------------------------------------
class TotpSetupView(APIView):
    @extend_schema(summary="Start TOTP enrolment (needs X-Reauth-Token)", request=None,
                   responses={200: inline_serializer("TotpSetup", {"otpauth_uri": serializers.CharField(),
                                                                  "secret": serializers.CharField(),
                                                                  "qr_svg": serializers.CharField()})})
    def post(self, request):
        require_reauth(request)
        response = Response(mfa.totp_setup(user=selectors.user_get(user_id=request.user.id)))
        response["Cache-Control"] = "no-store"
        return response


class TotpConfirmView(APIView):
    @extend_schema(summary="Confirm the authenticator with a code; returns 10 backup codes, once",
                   request=inline_serializer("TotpConfirm", {"code": serializers.CharField()}),
                   responses={200: inline_serializer("BackupCodes", {
                       "backup_codes": serializers.ListField(child=serializers.CharField())})})
    def post(self, request):
        codes = mfa.totp_confirm(user=selectors.user_get(user_id=request.user.id),
                                 code=require_str(_body(request), "code", max_length=16))
        response = Response({"backup_codes": codes})
        response["Cache-Control"] = "no-store"
        return response


class TotpView(APIView):
    @extend_schema(summary="Turn TOTP off (needs X-Reauth-Token)", responses={204: None})
    def delete(self, request):
        require_reauth(request)
        mfa.totp_disable(user_id=request.user.id, actor=Actor.user(request.user.id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class BackupCodesView(APIView):
    @extend_schema(summary="A new set of backup codes; the old set is void (needs X-Reauth-Token)", request=None,
                   responses={200: inline_serializer("NewBackupCodes", {
                       "backup_codes": serializers.ListField(child=serializers.CharField())})})
    def post(self, request):
        require_reauth(request)
        codes = mfa.backup_codes_regenerate(user=selectors.user_get(user_id=request.user.id))
        response = Response({"backup_codes": codes})
        response["Cache-Control"] = "no-store"
        return response


class MyLoginsView(APIView):
    @extend_schema(summary="My sign-in history", responses={200: Generic})
    def get(self, request):
        return Response({"results": risk.history_of(user_id=request.user.id), "next": None})


class AdminUserLoginsView(APIView):
    permission_classes = [IsAuthenticatedPrincipal]

    @extend_schema(summary="A user's sign-in history", responses={200: Generic})
    def get(self, request, user_id: int):
        _target(request, user_id, "read")
        return Response({"results": risk.history_of(user_id=user_id), "next": None})


class AdminUserMfaResetView(APIView):
    permission_classes = [IsAuthenticatedPrincipal]

    @extend_schema(summary="Turn a user's two-factor authentication off (lost device); audited", request=None,
                   responses={204: None})
    def post(self, request, user_id: int):
        _target(request, user_id, "write")
        mfa.admin_reset(user_id=user_id, actor=actor_of(request.user))
        return Response(status=status.HTTP_204_NO_CONTENT)
