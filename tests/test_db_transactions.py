"""custos.db.mysql: transactions without round trips of their own, and writes that wait for
the transaction's next statement or its COMMIT (custos.sql.insert_later, update_later,
write_later). The outcomes are the same on SQLite, where such writes run at once (a failure
included: the same error type, the same rollback); the packet counts are MariaDB's."""
from __future__ import annotations

import uuid

import pytest
from django.core.exceptions import FieldDoesNotExist
from django.db import IntegrityError, connection, transaction
from django.db.transaction import TransactionManagementError
from django.utils import timezone

from accounts.models import User
from audit.models import AuditEvent
from audit.services import Actor, event_record
from custos.db import DeferredWriteFailed
from custos.sql import execute_together, insert, insert_later, update_later, write_later
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


def _duplicate_of(event: AuditEvent) -> AuditEvent:
    # the same event_id again: the unique key refuses it (on MariaDB at the next statement)
    return AuditEvent(event_id=event.event_id, occurred_at=timezone.now(), action="test.dup", actor_type="system",
                      actor_id="t")


def test_a_failing_deferred_write_rolls_the_whole_transaction_back():
    user = UserFactory()
    taken = event_record(action="test.first", actor=Actor.system("t"))  # outside a transaction: written now
    with pytest.raises(DeferredWriteFailed) as failed:
        with transaction.atomic():
            _mark_login(user)
            insert_later(_duplicate_of(taken))
    # its own error, never the IntegrityError of whatever statement it travelled with
    assert not isinstance(failed.value, IntegrityError)
    assert failed.value.target == "INSERT INTO audit_events" and str(taken.event_id.hex) not in failed.value.target
    assert isinstance(failed.value.__cause__, IntegrityError) or "Duplicate" in str(failed.value.__cause__)
    assert User.objects.get(pk=user.pk).last_login is None  # nothing half-written
    assert AuditEvent.objects.filter(event_id=taken.event_id).count() == 1
    assert User.objects.filter(pk=user.pk).exists()  # and the connection is in step afterwards


def test_insert_later_gives_no_row_id_anywhere():
    """What nothing may read back gets no id: not where it waited (MariaDB, in a transaction)
    and not where it ran at once (SQLite, autocommit), so code reading one fails in tests too."""
    outside = AuditEvent(occurred_at=timezone.now(), action="test.outside", actor_type="system", actor_id="t")
    assert insert_later(outside) is None and outside.pk is None
    with transaction.atomic():
        inside = AuditEvent(occurred_at=timezone.now(), action="test.inside", actor_type="system", actor_id="t")
        assert insert_later(inside) is None and inside.pk is None
        recorded = event_record(action="test.recorded", actor=Actor.system("t"))
        assert recorded.pk is None and recorded.event_id is not None
    found = set(AuditEvent.objects.values_list("event_id", flat=True))
    assert {outside.event_id, inside.event_id, recorded.event_id} <= found  # by the key the caller chose
    with pytest.raises(TypeError):
        insert(AuditEvent(occurred_at=timezone.now(), action="test.old", actor_type="system"), later=True)
    immediate = insert(AuditEvent(occurred_at=timezone.now(), action="test.now", actor_type="system", actor_id="t"))
    assert AuditEvent.objects.get(pk=immediate.pk).event_id == immediate.event_id  # insert(): always its id


def test_insert_later_refuses_models_whose_save_must_run():
    from django.db.models.signals import post_save

    def receiver(**kwargs):
        pass

    post_save.connect(receiver, sender=AuditEvent, weak=False, dispatch_uid="test-insert-later")
    try:
        with pytest.raises(TypeError):
            insert_later(AuditEvent(occurred_at=timezone.now(), action="test.signalled", actor_type="system"))
    finally:
        post_save.disconnect(dispatch_uid="test-insert-later", sender=AuditEvent)
    assert not AuditEvent.objects.filter(action="test.signalled").exists()


def test_a_guard_for_another_statements_integrity_error_cannot_swallow_a_deferred_failure():
    """`try: with atomic(): ... except IntegrityError` around a savepoint (a concurrent-insert
    guard) used to catch a held write's failure, sent in the SAVEPOINT's packet, as its own."""
    user = UserFactory()
    taken = event_record(action="test.first", actor=Actor.system("t"))
    with pytest.raises(DeferredWriteFailed):
        with transaction.atomic():
            insert_later(_duplicate_of(taken))
            try:
                with transaction.atomic():
                    UserFactory(username="guarded")
            except IntegrityError:
                pytest.fail("the deferred write's failure was taken for the guarded statement's")
    assert not User.objects.filter(username="guarded").exists()
    assert User.objects.filter(pk=user.pk).exists()


def test_a_caught_deferred_failure_still_fails_its_transaction():
    taken = event_record(action="test.first", actor=Actor.system("t"))
    with transaction.atomic():
        try:
            insert_later(_duplicate_of(taken))
            AuditEvent.objects.filter(action="test.first").exists()  # on MariaDB it fails here
        except DeferredWriteFailed:
            pass
        with pytest.raises(TransactionManagementError):  # the block may not go on without it
            event_record(action="test.after", actor=Actor.system("t"))
    assert not AuditEvent.objects.filter(action__in=["test.dup", "test.after"]).exists()


def test_update_later_writes_the_named_fields_as_save_would():
    user = UserFactory()
    before = User.objects.get(pk=user.pk)
    with transaction.atomic():
        user.last_login = timezone.now()
        user.set_password("another passphrase 2026")
        assert update_later(user, "last_login", "password") is None
    after = User.objects.get(pk=user.pk)
    assert after.last_login == user.last_login and after.check_password("another passphrase 2026")
    assert after.updated_at == before.updated_at and after.email == before.email  # nothing else
    for bad in ((), ("id",), ("no_such_field",)):
        with pytest.raises((TypeError, FieldDoesNotExist)):
            update_later(user, *bad)


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


def test_statements_executed_together_give_each_row_count_and_the_last_ones_rows():
    users = [UserFactory(), UserFactory()]
    with transaction.atomic(), connection.cursor() as cur:
        counts = execute_together(cur, ("UPDATE users SET status_reason = %s WHERE id IN (%s, %s)",
                                        ["t", users[0].pk, users[1].pk]),
                                  ("UPDATE users SET status_reason = %s WHERE id = %s", ["u", -1]),
                                  ("SELECT status_reason FROM users WHERE id = %s", [users[0].pk]))
        assert counts[:2] == [2, 0]
        assert list(cur.fetchall()) == [("t",)]


def test_a_failing_statement_executed_together_raises_its_own_error_and_stops_there():
    first, second = UserFactory(), UserFactory()
    with pytest.raises(IntegrityError):
        with transaction.atomic(), connection.cursor() as cur:
            execute_together(cur, ("UPDATE users SET status_reason = %s WHERE id = %s", ["changed", first.pk]),
                             ("UPDATE users SET username = %s WHERE id = %s", [first.username, second.pk]),
                             ("UPDATE users SET status_reason = %s WHERE id = %s", ["changed", second.pk]))
    assert set(User.objects.values_list("status_reason", flat=True)) == {""}  # nothing half-written


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
def test_a_password_sign_in_is_four_round_trips_to_mariadb(api, signing_key, packets):
    user = UserFactory(username="packets")
    login(api, "packets")  # the first sign-in loads what later ones find cached
    packets.clear()
    body = login(api, "packets")
    # the account, the live sessions (sessions_app's own read: accounts no longer splices it
    # into its history read), the risk history, then every row of the sign-in with its COMMIT
    assert len(packets) == 4, packets
    assert "FROM `sessions`" in packets[1] or "FROM sessions" in packets[1], packets[1]
    assert "login_history" in packets[2] and "sessions" not in packets[2]
    assert packets[3].startswith("START TRANSACTION;") and packets[3].endswith("COMMIT")
    session = Session.objects.get(session_id=body["session_id"])
    assert session.user_id == user.pk and session.refresh_token_id is not None
    assert AuditEvent.objects.filter(action="login.succeeded", subject_user_id=user.pk).count() == 2
    assert uuid.UUID(body["session_id"])


@mariadb_only
def test_a_refresh_is_four_round_trips_and_names_no_other_rooms_table(api, signing_key, packets):
    UserFactory(username="packets")
    first = login(api, "packets")
    packets.clear()
    r = api.post("/v1/auth/refresh", {"refresh_token": first["refresh_token"]}, format="json")
    assert r.status_code == 200, r.content
    # the spending and the lookup; the user (accounts' read); the successor and the session; COMMIT
    assert len(packets) == 4, packets
    assert packets[0].startswith("START TRANSACTION;\nUPDATE refresh_tokens") and "JOIN sessions" in packets[0]
    assert packets[1].startswith("SELECT") and "FROM users" in packets[1]
    assert packets[2].startswith("INSERT INTO refresh_tokens") and "UPDATE sessions" in packets[2]
    assert packets[3] == "COMMIT"
    assert not any("users" in p for i, p in enumerate(packets) if i != 1)  # sessions_app's SQL names its own tables
