"""Retention for every table that grows (issue 18): spent proofs, old sign-in history, used
backup codes and long-ended sessions go on their own clocks, in batches; each run is recorded;
an expired session is neither listed nor counted by the too-many-sessions rule."""
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import BackupCode, LoginEvent, MfaChallenge, OtpChallenge, PasswordResetToken
from audit.models import JobRun
from sessions_app.models import RefreshToken, Session
from tests.conftest import bearer, login
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
DAY = timedelta(days=1)


def _otp(user, expires_at):
    return OtpChallenge.objects.create(purpose="login", channel="email", destination="a@example.com", user=user,
                                       code_hash="x" * 64, created_at=expires_at - timedelta(minutes=5),
                                       expires_at=expires_at)


def test_spent_proofs_and_old_history_go_and_recent_ones_stay(settings):
    from accounts.tasks import purge_spent

    settings.CUSTOS_ACCOUNTS = {**settings.CUSTOS_ACCOUNTS, "LOGIN_HISTORY_RETENTION_DAYS": 180}
    user = UserFactory()
    now = timezone.now()
    old_otp, new_otp = _otp(user, now - 2 * DAY), _otp(user, now - timedelta(hours=1))
    old_mfa = MfaChallenge.objects.create(token_hash="a" * 64, user=user, first_factor="pwd", created_at=now - 3 * DAY,
                                          expires_at=now - 3 * DAY)
    live_mfa = MfaChallenge.objects.create(token_hash="b" * 64, user=user, first_factor="pwd", created_at=now,
                                           expires_at=now + timedelta(minutes=5))
    old_reset = PasswordResetToken.objects.create(user=user, token_hash="c" * 64, created_at=now - 3 * DAY,
                                                  expires_at=now - 2 * DAY)
    new_reset = PasswordResetToken.objects.create(user=user, token_hash="d" * 64, created_at=now,
                                                  expires_at=now + timedelta(minutes=30))
    used_long_ago = BackupCode.objects.create(user=user, code_hash="e" * 64, used_at=now - 31 * DAY)
    used_lately = BackupCode.objects.create(user=user, code_hash="f" * 64, used_at=now - 2 * DAY)
    unused = BackupCode.objects.create(user=user, code_hash="g" * 64)
    ancient = LoginEvent.objects.create(user=user, occurred_at=now - 181 * DAY, method="password", result="success")
    recent = LoginEvent.objects.create(user=user, occurred_at=now - 179 * DAY, method="password", result="success")

    removed = purge_spent(batch=1)  # one row a batch: the loop itself is exercised
    assert removed == {"otp_challenges": 1, "mfa_challenges": 1, "password_reset_tokens": 1, "backup_codes": 1,
                       "login_history": 1}
    for gone in (old_otp, old_mfa, old_reset, used_long_ago, ancient):
        assert not type(gone).objects.filter(pk=gone.pk).exists(), gone
    for kept in (new_otp, live_mfa, new_reset, used_lately, unused, recent):
        assert type(kept).objects.filter(pk=kept.pk).exists(), kept
    run = JobRun.objects.get(name="accounts:purge_spent")
    assert run.last_count == 5 and run.last_success_at is not None and run.last_error == ""
    assert purge_spent() == dict.fromkeys(removed, 0)  # nothing twice


def test_ended_sessions_go_after_their_retention_with_their_refresh_tokens(api, signing_key, settings):
    from sessions_app.tasks import purge_expired

    settings.CUSTOS_SESSIONS = {**settings.CUSTOS_SESSIONS, "SESSION_RETENTION_DAYS": 30}
    user = UserFactory()
    long_ended, lately_ended, live = (login(api, user.username) for _ in range(3))
    now = timezone.now()
    Session.objects.filter(session_id=long_ended["session_id"]).update(revoked=True, revoked_at=now - 31 * DAY)
    Session.objects.filter(session_id=lately_ended["session_id"]).update(revoked=True, revoked_at=now - 29 * DAY)
    gone = Session.objects.get(session_id=long_ended["session_id"])
    assert RefreshToken.objects.filter(session=gone).exists()
    purge_expired()
    assert not Session.objects.filter(pk=gone.pk).exists()
    assert not RefreshToken.objects.filter(session_id=gone.pk).exists()
    assert Session.objects.filter(session_id=lately_ended["session_id"]).exists()
    assert Session.objects.filter(session_id=live["session_id"], revoked=False).exists()
    run = JobRun.objects.get(name="sessions:purge_expired")
    assert run.last_success_at is not None and run.last_count >= 1


def test_an_expired_session_is_not_counted_by_the_too_many_sessions_rule(api, signing_key, settings):
    """Before the hourly sweep ends it, a session past its idle limit is already over: not
    listed (GET /v1/sessions) and not counted toward CUSTOS_RISK_MAX_SESSIONS."""
    from sessions_app.selectors import active_session_count

    settings.CUSTOS_SESSIONS = {**settings.CUSTOS_SESSIONS, "SESSION_IDLE_TIMEOUT": 14 * 86400}
    user = UserFactory()
    pairs = [login(api, user.username) for _ in range(3)]
    assert active_session_count(user_id=user.pk) == 3
    Session.objects.filter(session_id=pairs[0]["session_id"]).update(last_seen_at=timezone.now() - 15 * DAY)
    assert active_session_count(user_id=user.pk) == 2
    listed = api.get("/v1/sessions", **bearer(pairs[1]["access_token"])).json()
    rows = listed["results"] if isinstance(listed, dict) else listed
    assert pairs[0]["session_id"] not in {s["session_id"] for s in rows}


def test_retention_jobs_are_scheduled(settings):
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"accounts.tasks.purge_spent", "sessions_app.tasks.purge_expired", "audit.tasks.purge"} <= tasks


def test_run_jobs_runs_the_schedule_here_for_an_install_without_beat(signing_key):
    """`manage.py run_jobs` (from cron, for the embedded default): every scheduled job once."""
    from io import StringIO

    from django.conf import settings
    from django.core.management import CommandError, call_command

    out = StringIO()
    call_command("run_jobs", stdout=out)
    assert out.getvalue().splitlines() == [f"{name}: ok" for name in settings.CELERY_BEAT_SCHEDULE]
    assert JobRun.objects.filter(name="accounts:purge_spent", last_success_at__isnull=False).exists()
    with pytest.raises(CommandError, match="no such job: nope"):
        call_command("run_jobs", "--only", "nope")


def test_a_failing_job_fails_run_jobs_after_the_others_ran(monkeypatch, signing_key):
    from io import StringIO

    from django.core.management import CommandError, call_command

    import accounts.tasks

    def broken(*a, **kw):
        raise RuntimeError("disk full")

    monkeypatch.setattr(accounts.tasks.purge_spent, "run", broken)
    out = StringIO()
    with pytest.raises(CommandError, match="accounts-purge-spent"):
        call_command("run_jobs", "--only", "accounts-purge-spent", "keys-prune", stdout=out)
    assert out.getvalue().splitlines() == ["accounts-purge-spent: failed", "keys-prune: ok"]
