"""MySQL/MariaDB with query metrics (see custos.db), and transactions that cost no round
trips of their own.

Django opens a transaction with `SET autocommit=0` and closes it with `COMMIT` and
`SET autocommit=1`: three round trips around every atomic block, each of them a wake-up of
a server thread whose caches the sign-in's password hash has just evicted. Here the server
stays in autocommit mode for good. A transaction starts with `START TRANSACTION` sent in the
same packet as its first statement (the multi-statement protocol), and one that sent nothing
ends without a round trip.

Writes whose outcome nobody reads before the commit (audit rows, login history, pointer
updates; see custos.sql.write_later) wait, and travel in the packet of the transaction's
next statement or of its COMMIT. They go through Django's cursor like any statement (the
query log, execute wrappers and metrics see them) and are held at the bottom layer. The
server runs a packet's statements in order and stops at the first error. A failed deferred
write is raised as custos.db.DeferredWriteFailed by the statement or commit it travelled
with (never as that statement's own error, which the server did not run), and its
transaction rolls back.

Every statement here is built by Django or by custos with bound parameters, which is what
makes enabling multi-statement packets safe: no text from a request becomes SQL."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import IntegrityError
from django.db.backends.mysql import base
from MySQLdb.constants import CLIENT

from django_prometheus.db.common import DatabaseWrapperMixin

from custos.db import client_error, counting_cursor_class, deferred_write_failed

BEGIN = "START TRANSACTION"


class CursorWrapper(base.CursorWrapper):
    """Sends what the connection holds back (a pending START TRANSACTION, deferred writes)
    in the packet of the statement it executes, then steps to that statement's result."""

    def __init__(self, cursor: Any, db: DatabaseWrapper) -> None:
        super().__init__(cursor)
        self.db = db

    def execute(self, query: Any, args: Any = None) -> Any:
        self.__dict__.pop("_executed", None)
        if self.db.deferring:
            # held for the next statement's packet; Django's cursor layers above (execute
            # wrappers, metrics, the DEBUG query log, which reads _executed) see it as run
            self._executed = self._bound(query, args)
            self.db.hold(self._executed)
            return None
        head = self.db.take_head()
        if not head:
            return super().execute(query, args)
        send_packet(self.db, self.cursor, head, self._bound(query, args))
        return self.cursor.rowcount

    def _bound(self, query: Any, args: Any) -> str:
        # bound as the driver would (it interpolates on the client too), so a packet is one
        # text with nothing left to interpolate
        return self.cursor.mogrify(query, args) if args is not None else query

    def executemany(self, query: Any, args: Any) -> Any:
        head = self.db.take_head()
        if head:
            send_packet(self.db, self.cursor, head)
        return super().executemany(query, args)


def send_packet(db: DatabaseWrapper, cursor: Any, head: list[str], last: str | None = None) -> None:
    """The held statements (`head`: START TRANSACTION, deferred writes) and then `last` in one
    round trip, leaving the cursor at `last`'s result (every result consumed when there is no
    `last`). The server stops at the first error, which is raised here: as
    DeferredWriteFailed when it was a deferred write's, as itself otherwise (START
    TRANSACTION, `last`). A lost connection is never a write's fault."""
    statements = [*head, last] if last is not None else head
    at = 0  # the statement whose result is being read: the one that failed, if any did
    try:
        cursor.execute(";\n".join(statements))
        while at + 1 < len(statements):
            at += 1
            cursor.nextset()
        if last is None:
            while cursor.nextset():
                pass
    except base.Database.Error as exc:
        if at < len(head) and statements[at] != BEGIN and not client_error(exc):
            raise deferred_write_failed(db, statements[at], exc) from exc
        if exc.args and exc.args[0] in base.CursorWrapper.codes_for_integrityerror:
            raise IntegrityError(*exc.args) from exc  # as Django's cursor maps a statement's own error
        raise


class DatabaseWrapper(DatabaseWrapperMixin, base.DatabaseWrapper):
    CURSOR_CLASS = CursorWrapper
    multi_statements = True  # several statements in one execute (custos.sql.execute_together)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._begin_pending = False  # a transaction was asked for and nothing has been sent in it
        self._server_txn = False  # START TRANSACTION went out and no COMMIT/ROLLBACK since
        self._deferred: list[str] = []  # bound statements
        self.deferring = False  # statements executed now wait (see writes_deferred)

    def get_connection_params(self) -> dict[str, Any]:
        params = super().get_connection_params()
        params["client_flag"] = params.get("client_flag", 0) | CLIENT.MULTI_STATEMENTS
        params["autocommit"] = True  # and it stays so: see the module's docstring
        return params

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        conn = super().get_new_connection(conn_params)
        self._begin_pending = self._server_txn = False
        self._deferred = []
        return conn

    def create_cursor(self, name: Any = None) -> Any:  # connections counted by the mixin, statements here
        cls = counting_cursor_class(self.CURSOR_CLASS, self.alias, self.vendor)
        return cls(self.connection.cursor(), self)

    # ---- transactions -------------------------------------------------------------------
    def _set_autocommit(self, autocommit: bool) -> None:
        if autocommit:
            if self._server_txn or self._deferred:
                self._commit()  # what SET autocommit=1 does to an open transaction
            self._begin_pending = False
        else:
            self._begin_pending = True

    def take_head(self) -> list[str]:
        """The statements to send before the next one: START TRANSACTION if one is due,
        then the deferred writes, bound. Taking them marks the transaction as begun."""
        if not (self._begin_pending or self._deferred):
            return []
        head = [BEGIN] if self._begin_pending else []
        head += self._deferred
        if self._begin_pending:
            self._begin_pending, self._server_txn = False, True
        self._deferred = []
        return head

    @contextmanager
    def writes_deferred(self) -> Iterator[bool]:
        """Statements executed in this block wait for the transaction's next statement or its
        commit, and travel in that packet. Yields False (and they run at once) outside a
        transaction. Only for writes whose outcome nobody reads before the commit: they
        return no row count and no insert id."""
        if self.autocommit or self.connection is None:
            yield False
            return
        self.deferring = True
        try:
            yield True
        finally:
            self.deferring = False

    def hold(self, sql: str) -> None:
        self._deferred.append(sql)

    def _commit(self) -> None:
        with self.wrap_database_errors:
            if self._server_txn or self._deferred:
                raw = self.connection.cursor()
                try:
                    send_packet(self, raw, self.take_head(), "COMMIT")
                finally:
                    raw.close()
            self._server_txn = False
            self._begin_pending = not self.autocommit  # manual transactions: the next one is due

    def _rollback(self) -> None:
        self._deferred = []  # never sent: nothing to undo
        if self._server_txn:
            super()._rollback()
        self._server_txn = False
        self._begin_pending = not self.autocommit
