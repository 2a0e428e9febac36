"""custos.db.mysql: transactions without round trips of their own, and writes that wait for
the transaction's next statement or its COMMIT (custos.sql.write_later). The outcomes are
the same on SQLite, where such writes run at once; the packet counts are MariaDB's."""
from __future__ import annotations

import uuid

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts.models import User
from audit.models import AuditEvent
from audit.services import Actor, event_record
from custos.sql import insert, write_later
from sessions_app.models import RefreshToken, Session
from tests.conftest import login
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)
mariadb_only = pytest.mark.skipif(connection.vendor != "mysql", reason="counts MariaDB's packets")


def _mark_login(user: User) -> None:
    write_later("UPDATE users SET last_login_at = %s WHERE id = %s",
                [connection.ops.adapt_datetimefield_value(timezone.now()), user.pk])


def test_deferred_writes_are_seen_by_the_transactions_own_reads():
    user = UserFactory()
    with transaction.atomic():
        _mark_login(user)
        event = event_record(action="test.deferred", actor=Actor.system("t"), subject_user_id=user.pk)
        assert User.objects.get(pk=user.pk).last_login is not None
        assert AuditEvent.objects.filter(event_id=event.event_id, subject_user_id=user.pk).exists()
    assert AuditEvent.objects.filter(event_id=event.event_id).count() == 1


def test_deferred_writes_show_in_the_query_log_and_the_metrics():
    from django.test.utils import CaptureQueriesContext
    from prometheus_client import REGISTRY

    user = UserFactory()
    labels = {"alias": "default", "vendor": connection.vendor}
    before = REGISTRY.get_sample_value("django_db_execute_total", labels) or 0
    with CaptureQueriesContext(connection) as seen:
        with transaction.atomic():
            _mark_login(user)
    logged = [q["sql"] for q in seen.captured_queries if q["sql"].startswith("UPDATE users SET last_login_at")]
    assert len(logged) == 1 and logged[0].endswith(f"WHERE id = {user.pk}"), seen.captured_queries
    assert REGISTRY.get_sample_value("django_db_execute_total", labels) >= before + 1
    assert User.objects.get(pk=user.pk).last_login is not None


def test_a_failing_deferred_write_rolls_the_whole_transaction_back():
    user = UserFactory()
    taken = event_record(action="test.first", actor=Actor.system("t"))  # outside a transaction: written now
    with pytest.raises(IntegrityError):
        with transaction.atomic():
            _mark_login(user)
            # the same event_id again: the unique key refuses it, at the commit on MariaDB
            insert(AuditEvent(event_id=taken.event_id, occurred_at=timezone.now(), action="test.dup",
                              actor_type="system", actor_id="t"),
                   later=True)
    assert User.objects.get(pk=user.pk).last_login is None  # nothing half-written
    assert AuditEvent.objects.filter(event_id=taken.event_id).count() == 1
    assert User.objects.filter(pk=user.pk).exists()  # and the connection is in step afterwards


def test_rolled_back_transactions_and_savepoints_drop_their_deferred_writes():
    with transaction.atomic():
        dropped = event_record(action="test.dropped", actor=Actor.system("t"))
        transaction.set_rollback(True)
    with transaction.atomic():
        kept = event_record(action="test.kept", actor=Actor.system("t"))
        with pytest.raises(RuntimeError):
            with transaction.atomic():
                undone = event_record(action="test.undone", actor=Actor.system("t"))
                raise RuntimeError
    found = set(AuditEvent.objects.values_list("event_id", flat=True))
    assert kept.event_id in found
    assert dropped.event_id not in found and undone.event_id not in found


def test_manual_transactions_stay_transactions_after_a_commit():
    user = UserFactory()
    transaction.set_autocommit(False)
    try:
        first = event_record(action="test.one", actor=Actor.system("t"))
        transaction.commit()
        second = event_record(action="test.two", actor=Actor.system("t"))
        _mark_login(user)
        transaction.rollback()  # undoes everything since the commit, as SET autocommit=0 would
    finally:
        transaction.set_autocommit(True)
    found = set(AuditEvent.objects.values_list("event_id", flat=True))
    assert first.event_id in found and second.event_id not in found
    assert User.objects.get(pk=user.pk).last_login is None


def test_a_new_sessions_rows_point_at_each_other(signing_key):
    from sessions_app.services import session_start

    user = UserFactory()
    pair = session_start(user=user, amr=["pwd"], actor=Actor.user(user.pk))
    session = Session.objects.get(session_id=pair.session_id)
    token = RefreshToken.objects.get(session=session)
    assert session.refresh_token_id == token.pk and token.user_id == user.pk and token.is_used is False
    assert token.expires_at > timezone.now() and token.parent_id is None


@pytest.fixture
def packets():
    """What the driver sends from here on: queries, and the COMMIT/ROLLBACK/autocommit calls
    that are packets of their own."""
    connection.ensure_connection()
    raw = connection.connection
    sent: list[str] = []
    originals = {name: getattr(raw, name) for name in ("query", "commit", "rollback", "autocommit")}

    def counted(name: str):
        def call(*args):
            sent.append(args[0].decode(errors="replace") if name == "query" else name.upper())
            return originals[name](*args)

        return call

    for name in originals:
        setattr(raw, name, counted(name))
    yield sent
    for name, method in originals.items():  # the driver's connection cannot drop attributes
        setattr(raw, name, method)


@mariadb_only
def test_transactions_cost_no_round_trips_of_their_own(packets):
    user = UserFactory()
    packets.clear()
    with transaction.atomic():
        pass
    assert packets == []  # nothing asked, nothing sent
    with transaction.atomic():
        User.objects.filter(pk=user.pk).exists()
        _mark_login(user)
        event_record(action="test.packets", actor=Actor.system("t"))
    assert len(packets) == 2, packets
    assert packets[0].startswith("START TRANSACTION;") and "FROM `users`" in packets[0]
    assert packets[1].startswith("UPDATE users") and "INSERT INTO `audit_events`" in packets[1]
    assert packets[1].endswith("COMMIT")


@mariadb_only
def test_a_password_sign_in_is_three_round_trips_to_mariadb(api, signing_key, packets):
    user = UserFactory(username="packets")
    login(api, "packets")  # the first sign-in loads what later ones find cached
    packets.clear()
    body = login(api, "packets")
    # the account, the risk history, then every row of the sign-in with its COMMIT
    assert len(packets) == 3, packets
    assert packets[2].startswith("START TRANSACTION;") and packets[2].endswith("COMMIT")
    session = Session.objects.get(session_id=body["session_id"])
    assert session.user_id == user.pk and session.refresh_token_id is not None
    assert AuditEvent.objects.filter(action="login.succeeded", subject_user_id=user.pk).count() == 2
    assert uuid.UUID(body["session_id"])
