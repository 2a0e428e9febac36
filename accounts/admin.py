"""The staff console's users (docs/console-users.md): search, filters that never count, creating or
inviting, the account actions (each its own permission, the destructive ones behind a confirmation
page), a user's page with the panels the rooms above register (accounts/console_panels.py), and the
tenant scope (authz.backends.console_scope, asked through that seam). Every change is a service
call with the staff member as actor. Secrets (password hash, token version) are never shown."""
from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from audit.services import Actor
from custos.admin_lists import NoCountListMixin
from custos.exceptions import CustosError

from . import console_panels, selectors, services
from .admin_console import (
    ACTIONS,
    AccountAction,
    EmailVerifiedFilter,
    MfaFilter,
    PhoneVerifiedFilter,
    TenantFilter,
    UserCreateForm,
    render_audit,
    render_login_history,
)
from .models import Tenant, User, UserProfile

# Permissions are Casbin policies (authz.backends); Django's groups would be a second,
# disconnected source of rights.
admin.site.unregister(Group)

SESSION_TENANT = "custos.console.tenant"  # a platform staff member's chosen tenant (the list's switch)
STAFF = User.UserType.STAFF


class ProfileInline(admin.StackedInline):
    model = UserProfile
    can_delete = False
    verbose_name = verbose_name_plural = "profile"
    fields = ("nickname", "avatar", "gender", "birthday", "extra")


def _run(op: str, request: HttpRequest, user_id: int) -> None:
    """One account action on one account, through the API's own service, the staff member as actor."""
    actor = Actor.user(request.user.pk)
    spec = ACTIONS[op]
    if spec.transition:
        services.user_transition(user_id=user_id, action=spec.transition, actor=actor, reason="console")
    elif op == "forcelogout":
        # The API's force logout, not a bare token_version bump: its event and metric come with it.
        # (admin.py is an interface module: it may call a room above accounts.)
        from sessions_app.services import force_logout_user

        force_logout_user(user_id=user_id, actor=actor)
    elif op == "resetmfa":
        from .security.mfa import admin_reset

        admin_reset(user_id=user_id, actor=actor)
    elif op == "resetpassword":
        from .services.console import password_reset_send

        password_reset_send(user_id=user_id, actor=actor)
    else:  # pragma: no cover - ACTIONS and this function are one list
        raise KeyError(op)


def _account_action_name(spec: AccountAction) -> str:
    # the names the console has always used (tests/test_admin_browser.py selects them)
    return {"forcelogout": "force_logout", "resetmfa": "mfa_reset",
            "resetpassword": "password_reset"}.get(spec.op, f"action_{spec.op}")


def _account_action(spec: AccountAction):
    """A changelist action for `spec`: a confirmation page first when it is destructive (the
    first POST shows it; only its own POST, carrying `post=yes`, acts)."""

    def run(modeladmin: UserAdmin, request, queryset):
        users = list(queryset[:ACTION_MAX + 1])
        if len(users) > ACTION_MAX:
            modeladmin.message_user(request, f"Select at most {ACTION_MAX} accounts at a time.", messages.WARNING)
            return None
        if spec.confirm and request.POST.get("post") != "yes":
            return modeladmin.confirm_page(request, spec, users, from_list=True)
        modeladmin.run_on(request, spec, users)
        return None

    run.__name__ = _account_action_name(spec)
    return admin.action(description=spec.label + ("…" if spec.confirm else ""),
                        permissions=[_django_perm(spec.op)])(run)


def _django_perm(op: str) -> str:
    """The name Django's action machinery asks `has_<name>_permission` for. Not "delete": that is
    Django's own hard-delete permission, which must stay refused (the Delete action scrubs, it
    does not remove the row)."""
    return "scrub" if op == "delete" else op


ACTION_MAX = 100  # a page: selecting "all N users" at a million rows is not a console action


@admin.action(description="Merge the two selected accounts…", permissions=["merge"])
def merge_selected(modeladmin, request, queryset):
    ids = sorted(queryset.values_list("pk", flat=True)[:3])
    if len(ids) != 2:
        modeladmin.message_user(request, "Select exactly two accounts to merge.", messages.WARNING)
        return None
    return HttpResponseRedirect(f"{reverse('admin:accounts_user_merge')}?primary={ids[0]}&secondary={ids[1]}")


# ---- merge two accounts (docs/merge.md): the API's service, with the staff member as actor ----------
class MergeForm(forms.Form):
    primary = forms.IntegerField(min_value=1, label="Keep (primary account id)")
    secondary = forms.IntegerField(min_value=1, label="Merge into it and close (secondary account id)")
    reason = forms.CharField(max_length=200, label="Reason (kept in the audit trail)")


def _plan_token(plan) -> str:
    from django.core import signing

    return signing.dumps([plan.primary_user_id, plan.merged_user_id], salt="custos.admin.merge")


def _plan_token_valid(token, data) -> bool:
    from django.core import signing

    try:
        return signing.loads(token or "", salt="custos.admin.merge", max_age=900) == [data["primary"],
                                                                                       data["secondary"]]
    except signing.BadSignature:
        return False


class UserChangeForm(forms.ModelForm):
    """Identifiers and type: what accounts.services.admin_user_update corrects. Normalized and
    checked here so that a bad or taken identifier is a form error, not a refused service call."""

    class Meta:
        model = User
        fields = ("username", "email", "phone", "user_type")

    def clean(self):
        data = super().clean()
        try:
            ids = services.normalize_identifiers(username=data.get("username") or None,
                                                 email=data.get("email") or None, phone=data.get("phone") or None)
        except CustosError as exc:
            for name, errors in (exc.fields or {"username": [exc.message]}).items():
                self.add_error(name if name in self.fields else None, errors)
            return data
        for name in ("username", "email", "phone"):
            value = ids[name]
            lookup = "email__iexact" if name == "email" else name
            if value and User.objects.filter(**{lookup: value}).exclude(pk=self.instance.pk).exists():
                self.add_error(name, "Another account has it.")
        return data

    def _post_clean(self):
        # Django would copy the typed values onto the instance and check uniqueness of them; the
        # service does both with the normalized values
        pass


@admin.register(User)
class UserAdmin(NoCountListMixin, admin.ModelAdmin):
    form = UserChangeForm
    list_display = ("id", "username", "email", "phone", "user_type", "tenant", "status", "last_login", "created_at")
    list_display_links = ("id", "username")
    list_filter = ("status", "user_type", TenantFilter, MfaFilter, EmailVerifiedFilter, PhoneVerifiedFilter)
    search_fields = ("username",)  # the search itself is get_search_results (selectors.console_user_search)
    search_help_text = ("A username (its beginning), a whole email address, @domain.com for every address at a "
                        "domain, a phone number (+86 138 0000 0000), or id:42 / #42 for an id.")
    list_select_related = ("tenant",)
    list_per_page = 50
    ordering = ("-id",)
    sortable_by = ()  # -id only: any other order is a sort of every matching row
    inlines = [ProfileInline]
    actions = [*(_account_action(a) for a in ACTIONS.values()), merge_selected]
    change_list_template = "admin/accounts/user/change_list.html"
    change_form_template = "admin/accounts/user/change_form.html"
    fields = ("username", "email", "email_verified_at", "phone", "phone_verified_at", "user_type", "tenant",
              "status", "status_reason", "status_changed_at", "two_factor", "is_superuser", "last_login",
              "created_at", "updated_at", "deleted_at", "merged_into")
    readonly_fields = ("status", "status_reason", "status_changed_at", "tenant", "two_factor", "is_superuser",
                       "last_login", "created_at", "updated_at", "deleted_at", "email_verified_at",
                       "phone_verified_at", "merged_into")

    # ---- scope -----------------------------------------------------------------------------------------
    def scope(self, request) -> frozenset[int] | None:
        """Tenants whose users the staff member may see: None for all (platform rights)."""
        if not hasattr(request, "_console_scope"):
            request._console_scope = console_panels.console_scope(request.user)
        return request._console_scope

    def list_scope(self, request) -> frozenset[int] | None:
        """The scope, narrowed to the tenant a platform staff member switched to."""
        scope = self.scope(request)
        chosen = request.session.get(SESSION_TENANT)
        if scope is None and isinstance(chosen, int):
            return frozenset({chosen})
        return scope

    def get_queryset(self, request):
        # The list may lag a second (a replica serves it when one is configured, docs/scaling.md);
        # a user's page reads the primary (get_object) and every action's service re-reads there.
        from custos.replica import read_alias

        return (selectors.console_users(tenant_ids=self.scope(request)).select_related("profile")
                .using(read_alias()))

    def get_object(self, request, object_id, from_field=None):
        # Another tenant's user is "not found", like a missing one: ids of other tenants cannot be
        # probed (Django would redirect to the index with "doesn't exist" instead).
        try:
            user_id = int(object_id)
        except (TypeError, ValueError):
            raise Http404 from None
        user = selectors.console_user(user_id=user_id, tenant_ids=self.scope(request))
        if user is None:
            raise Http404
        return user

    def may_act_on(self, request, user: User) -> bool:
        # A staff account is the platform's wherever it lives: a tenant's administrators may not
        # freeze, reset or edit it (a takeover path otherwise), as in the API (accounts.api).
        return user.user_type != STAFF or self.scope(request) is None

    # ---- permissions: one per action (Casbin action `op` on /admin/accounts/user) ------------------
    def _perm(self, request, op: str) -> bool:
        return request.user.has_perm(f"accounts.{op}_user")

    def has_add_permission(self, request) -> bool:
        return self._perm(request, "add")

    def has_change_permission(self, request, obj=None) -> bool:
        return self._perm(request, "change") and (obj is None or self.may_act_on(request, obj))

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # deletion is the "Delete" action: a soft delete that scrubs personal data

    def has_merge_permission(self, request) -> bool:
        return self._perm(request, "merge")

    # ---- list: search, paging, the tenant switch --------------------------------------------------------
    def get_search_results(self, request, queryset, search_term):
        found = selectors.console_user_search(search_term)
        if found is None:
            return queryset, False
        if found.note:
            self.message_user(request, found.note, messages.WARNING)
        if found.q is None:
            return queryset.none(), False
        return queryset.filter(found.q), False

    def changelist_view(self, request, extra_context=None):
        narrowed = self.list_scope(request)
        if narrowed != self.scope(request):
            # a platform staff member's chosen tenant narrows the list, its search and its actions
            request._console_scope = narrowed
        context = {"title": "Users", **(extra_context or {}), **self._list_context(request)}
        response = super().changelist_view(request, context)
        return response

    def _list_context(self, request) -> dict:
        platform = console_panels.console_scope(request.user) is None
        chosen = request.session.get(SESSION_TENANT) if platform else None
        tenants = list(Tenant.objects.order_by("name").values_list("pk", "name")[:500]) if platform else []
        own = None
        if not platform:
            own = Tenant.objects.filter(pk__in=sorted(self.scope(request) or ())).values_list("name", flat=True)
        return {"platform_console": platform, "tenant_choices": tenants,
                "chosen_tenant": chosen if isinstance(chosen, int) else None,
                "chosen_tenant_name": dict(tenants).get(chosen, "") if platform else "",
                "own_tenants": list(own or []), "can_add_user": self.has_add_permission(request)}

    def response_action(self, request, queryset):
        # Selecting every row across pages would act on up to a million accounts: refused. An action
        # the staff member lacks the permission for is a 403, not Django's "no action selected".
        if request.POST.get("select_across") == "1":
            self.message_user(request, "Select the accounts on this page; actions do not run across pages.",
                              messages.WARNING)
            return HttpResponseRedirect(request.get_full_path())
        name = request.POST.get("action", "")
        if name and name not in self.get_actions(request) and name in self._all_action_names():
            raise PermissionDenied
        return super().response_action(request, queryset)

    def _all_action_names(self) -> set[str]:
        return {getattr(a, "__name__", "") for a in self.actions}

    def confirm_page(self, request, spec: AccountAction, users: list[User], *, from_list: bool) -> HttpResponse:
        context = {**self.admin_site.each_context(request), "title": f"{spec.label}: are you sure?",
                   "opts": self.model._meta, "spec": spec, "users": users, "from_list": from_list,
                   "action_name": _account_action_name(spec), "action_checkbox_name": ACTION_CHECKBOX_NAME}
        return TemplateResponse(request, "admin/accounts/user/action_confirm.html", context)

    def run_on(self, request, spec: AccountAction, users: list[User]) -> int:
        done, failed = 0, []
        for user in users:
            if not self.may_act_on(request, user):
                failed.append(f"{user}: staff accounts are the platform's")
                continue
            try:
                _run(spec.op, request, user.pk)
                done += 1
            except CustosError as exc:
                failed.append(f"{user}: {exc.message}")
        if done:
            self.message_user(request, spec.done.format(n=done), messages.SUCCESS)
        if failed:
            self.message_user(request, "Not changed: " + "; ".join(failed[:20]), messages.WARNING)
        return done

    # ---- URLs: merge, the tenant switch, a user's actions and panel actions ------------------------------
    def get_urls(self):
        view = self.admin_site.admin_view
        return [path("merge/", view(self.merge_view), name="accounts_user_merge"),
                path("tenant/", view(self.tenant_switch_view), name="accounts_user_tenant"),
                path("<str:object_id>/act/<str:op>/", view(self.user_action_view), name="accounts_user_action"),
                path("<str:object_id>/panel/<str:panel_name>/<str:op>/", view(self.panel_action_view),
                     name="accounts_user_panel_action"),
                *super().get_urls()]

    def tenant_switch_view(self, request):
        """A platform staff member narrows the lists to one tenant (kept in the session) or back to
        all. Only POST; a tenant administrator has nothing to switch."""
        if request.method != "POST":
            return HttpResponse(status=405, headers={"Allow": "POST"})
        if console_panels.console_scope(request.user) is not None or not self._perm(request, "view"):
            raise PermissionDenied
        raw = request.POST.get("tenant", "")
        if raw == "":
            request.session.pop(SESSION_TENANT, None)
        elif raw.isdigit() and Tenant.objects.filter(pk=int(raw)).exists():
            request.session[SESSION_TENANT] = int(raw)
        else:
            self.message_user(request, "No such tenant.", messages.WARNING)
        return HttpResponseRedirect(reverse("admin:accounts_user_changelist"))

    def user_action_view(self, request, object_id, op):
        """The buttons on a user's page. GET shows the confirmation page of a destructive action
        (a non-destructive one needs no page: its button posts at once); only POST acts."""
        spec = ACTIONS.get(op)
        if spec is None:
            raise Http404
        user = self.get_object(request, object_id)
        if not self._perm(request, op) or not self.may_act_on(request, user):
            raise PermissionDenied
        if request.method != "POST":
            if not spec.confirm:
                return HttpResponse(status=405, headers={"Allow": "POST"})
            return self.confirm_page(request, spec, [user], from_list=False)
        self.run_on(request, spec, [user])
        return HttpResponseRedirect(reverse("admin:accounts_user_change", args=[user.pk]))

    def panel_action_view(self, request, object_id, panel_name, op):
        """A panel's own action (revoke a session, unbind an identity, grant or revoke a role): POST
        only (CSRF by the admin), the user within scope, the action's own permission."""
        panel = console_panels.panel(panel_name)
        action = panel.actions.get(op) if panel else None
        if action is None:
            raise Http404
        if request.method != "POST":
            return HttpResponse(status=405, headers={"Allow": "POST"})
        user = self.get_object(request, object_id)
        if not request.user.has_perm(action.permission) or not self.may_act_on(request, user):
            raise PermissionDenied
        try:
            message = action.run(request, user)
        except CustosError as exc:
            self.message_user(request, f"Not changed: {exc.message}", messages.WARNING)
        else:
            self.message_user(request, message, messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:accounts_user_change", args=[user.pk]) + f"#panel-{panel_name}")

    # ---- create or invite ------------------------------------------------------------------------------------
    def add_view(self, request, form_url="", extra_context=None):
        """A new account through accounts.services.admin_user_create: an invitation mailed to the
        address (the user chooses a password: CUSTOS_INVITE_URL, templates/accounts/invite_email.txt)
        or an initial password."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        scope = self.scope(request)
        form = UserCreateForm(request.POST or None, scope=scope)
        if request.method == "POST" and form.is_valid():
            d = form.cleaned_data
            invite = d["how"] == "invite"
            try:
                user = services.admin_user_create(
                    actor=Actor.user(request.user.pk), username=d["username"] or None, email=d["email"] or None,
                    phone=d["phone"] or None, password=None if invite else d["password"], user_type=d["user_type"],
                    tenant_id=d["tenant"], invite=invite, nickname=d["nickname"] or None)
            except CustosError as exc:
                for name, errors in (exc.fields or {}).items():
                    form.add_error(name if name in form.fields else None, errors)
                if not exc.fields:
                    form.add_error(None, exc.message)
            else:
                self.message_user(request, f"Account {user} created" + (", invitation sent." if invite else "."),
                                  messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:accounts_user_change", args=[user.pk]))
        context = {**self.admin_site.each_context(request), "title": "Add a user or send an invitation",
                   "form": form, "opts": self.model._meta}
        return TemplateResponse(request, "admin/accounts/user/add.html", context)

    # ---- a user's page ----------------------------------------------------------------------------------------
    @admin.display(description="two-factor authentication")
    def two_factor(self, obj: User) -> str:
        return "on" if selectors.user_has_mfa(user_id=obj.pk) else "off"

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if self.scope(request) is not None and "user_type" in form.base_fields:
            # a tenant's administrator never makes a staff account
            form.base_fields["user_type"].choices = [(t, t) for t in User.UserType.values if t != STAFF]
        return form

    def change_view(self, request, object_id, form_url="", extra_context=None):
        user = self.get_object(request, object_id)
        context = {**(extra_context or {}), "account_buttons": self._buttons(request, user),
                   "panels": self._panels(request, user)}
        return super().change_view(request, object_id, form_url, context)

    def history_view(self, request, object_id, extra_context=None):
        self.get_object(request, object_id)  # 404 outside the scope
        return super().history_view(request, object_id, extra_context)

    def _buttons(self, request, user: User) -> list[dict]:
        if not self.may_act_on(request, user):
            return []
        out = []
        for spec in ACTIONS.values():
            if spec.transition and user.status not in services.TRANSITIONS[spec.transition][0]:
                continue  # only the moves this account's state allows
            if self._perm(request, spec.op):
                out.append({"op": spec.op, "label": spec.label, "confirm": bool(spec.confirm),
                            "url": reverse("admin:accounts_user_action", args=[user.pk, spec.op])})
        return out

    def _panels(self, request, user: User) -> list[dict]:
        out = []
        for p in console_panels.panels():
            if not request.user.has_perm(p.permission):
                continue
            html = p.render(request, user)
            if html:
                out.append({"name": p.name, "title": p.title, "html": html})
        return out

    def save_model(self, request, obj, form, change) -> None:
        if not self.may_act_on(request, obj):
            raise PermissionDenied
        data = {k: form.cleaned_data.get(k) or None for k in ("username", "email", "phone")}
        data["user_type"] = form.cleaned_data.get("user_type")
        if data["user_type"] == STAFF and self.scope(request) is not None:
            raise PermissionDenied
        try:
            services.admin_user_update(user_id=obj.pk, data=data, actor=Actor.user(request.user.pk))
        except CustosError as exc:  # a race the form's checks could not see
            self.message_user(request, f"Not changed: {exc.message}", messages.ERROR)

    def save_formset(self, request, form, formset, change) -> None:
        for f in formset.forms:
            if f.has_changed() and f.cleaned_data:
                data = {k: f.cleaned_data.get(k) for k in ("nickname", "avatar", "gender", "birthday", "extra")}
                if data.get("birthday"):
                    data["birthday"] = data["birthday"].isoformat()
                try:
                    services.profile_update(user_id=form.instance.pk, data=data, actor=Actor.user(request.user.pk))
                except CustosError as exc:
                    self.message_user(request, f"Profile not changed: {exc.message}", messages.ERROR)

    # ---- merge ---------------------------------------------------------------------------------------------
    def merge_view(self, request):
        """Two steps: the dry run (what would move, every conflict), then the merge itself,
        which only a form already shown with its dry run can ask for. Staff may merge across
        tenants; the reason goes into the `user.merged` event."""
        if not self.has_merge_permission(request):
            raise PermissionDenied
        form = MergeForm(request.POST or request.GET or None)
        plan, error = None, None
        if request.method == "POST" and form.is_valid():
            d = form.cleaned_data
            scope = self.scope(request)
            if scope is not None:  # a merge across tenants is the platform's; within scope only
                for user_id in (d["primary"], d["secondary"]):
                    self.get_object(request, user_id)
            # a confirmation counts only for the pair whose dry run this form showed
            confirm = request.POST.get("confirm") == "1" and _plan_token_valid(request.POST.get("plan"), d)
            try:
                plan = services.account_merge(primary_id=d["primary"], secondary_id=d["secondary"],
                                              actor=Actor.user(request.user.pk), dry_run=not confirm,
                                              cross_tenant=scope is None, reason=d["reason"],
                                              proof_method="staff")
            except CustosError as exc:
                error = f"{exc.code}: {exc.message}"
            else:
                if confirm:
                    self.message_user(request, f"Account {d['secondary']} was merged into account {d['primary']}.",
                                      messages.SUCCESS)
                    return HttpResponseRedirect(reverse("admin:accounts_user_change", args=[d["primary"]]))
        context = {**self.admin_site.each_context(request), "title": "Merge two accounts", "form": form,
                   "plan": plan, "error": error, "opts": self.model._meta,
                   "plan_token": _plan_token(plan) if plan is not None else ""}
        return TemplateResponse(request, "admin/accounts/user/merge.html", context)


# accounts' own panels of the user's page; the rooms above add theirs from their AppConfig.ready()
console_panels.register_panel("logins", 40, render_login_history, "accounts.view_user", title="Sign-in history")
console_panels.register_panel("audit", 50, render_audit, "accounts.view_user", title="Audit trail (last 50)")


def _op_permission(op: str):
    def has_permission(self: UserAdmin, request, obj=None) -> bool:
        return self._perm(request, op)

    has_permission.__name__ = f"has_{op}_permission"
    return has_permission


# has_freeze_permission, has_lock_permission, ...: what Django's action machinery asks
for _op in ACTIONS:
    setattr(UserAdmin, f"has_{_django_perm(_op)}_permission", _op_permission(_op))


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "status", "created_at")
    list_filter = ("status",)
    search_fields = ("name",)
    readonly_fields = ("status", "created_at", "updated_at")
    actions = ["disable", "enable"]

    def _each(self, request, queryset, fn) -> None:
        for t in queryset:
            try:
                fn(tenant_id=t.pk, actor=Actor.user(request.user.pk))
            except CustosError as exc:
                self.message_user(request, f"{t}: {exc.code}", messages.WARNING)

    @admin.action(description="Disable (signs every user of the tenant out)", permissions=["change"])
    def disable(self, request, queryset):
        self._each(request, queryset, services.tenant_disable)

    @admin.action(description="Enable", permissions=["change"])
    def enable(self, request, queryset):
        self._each(request, queryset, services.tenant_enable)

    def save_model(self, request, obj, form, change) -> None:
        if change:
            services.tenant_rename(tenant_id=obj.pk, name=form.cleaned_data["name"], actor=Actor.user(request.user.pk))
        else:
            obj.pk = services.tenant_create(name=form.cleaned_data["name"], actor=Actor.user(request.user.pk)).pk

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
