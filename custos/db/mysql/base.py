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
next statement or of its COMMIT. The server runs a packet's statements in order and stops at
the first error, so a failed deferred write leaves the transaction to be rolled back as any
failed statement would; it is reported by the statement or commit it travelled with.

Every statement here is built by Django or by custos with bound parameters, which is what
makes enabling multi-statement packets safe: no text from a request becomes SQL."""
from __future__ import annotations

from typing import Any

from django.db.backends.mysql import base
from MySQLdb.constants import CLIENT

from django_prometheus.db.common import DatabaseWrapperMixin

from custos.db import counting_cursor_class


class CursorWrapper(base.CursorWrapper):
    """Sends what the connection holds back (a pending START TRANSACTION, deferred writes)
    in the packet of the statement it executes, then steps to that statement's result."""

    def __init__(self, cursor: Any, db: DatabaseWrapper) -> None:
        super().__init__(cursor)
        self.db = db

    def execute(self, query: Any, args: Any = None) -> Any:
        head = self.db.take_head(self.cursor)
        if not head:
            return super().execute(query, args)
        # bound here as the driver would (it interpolates on the client too), so the packet
        # is one text with nothing left to interpolate
        sql = self.cursor.mogrify(query, args) if args is not None else query
        super().execute(";\n".join([*head, sql]))
        for _ in head:
            self.cursor.nextset()
        return self.cursor.rowcount

    def executemany(self, query: Any, args: Any) -> Any:
        head = self.db.take_head(self.cursor)
        if head:
            run_packet(self.cursor, head)
        return super().executemany(query, args)


def run_packet(cursor: Any, statements: list[str]) -> None:
    """Several statements in one round trip, every result consumed (an error in any of them
    is raised here; the server has not run the ones after it)."""
    base.CursorWrapper(cursor).execute(";\n".join(statements))
    while cursor.nextset():
        pass


class DatabaseWrapper(DatabaseWrapperMixin, base.DatabaseWrapper):
    CURSOR_CLASS = CursorWrapper

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._begin_pending = False  # a transaction was asked for and nothing has been sent in it
        self._server_txn = False  # START TRANSACTION went out and no COMMIT/ROLLBACK since
        self._deferred: list[tuple[str, Any]] = []

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

    def take_head(self, cursor: Any) -> list[str]:
        """The statements to send before the next one: START TRANSACTION if one is due,
        then the deferred writes, bound. Taking them marks the transaction as begun."""
        if not (self._begin_pending or self._deferred):
            return []
        head = ["START TRANSACTION"] if self._begin_pending else []
        head += [cursor.mogrify(sql, params) for sql, params in self._deferred]
        if self._begin_pending:
            self._begin_pending, self._server_txn = False, True
        self._deferred = []
        return head

    def defer(self, sql: str, params: Any) -> bool:
        """Hold a write until the transaction's next statement or its commit. False (and
        nothing held) outside a transaction: the caller runs it now."""
        if self.autocommit or self.connection is None:
            return False
        self._deferred.append((sql, list(params)))
        return True

    def _commit(self) -> None:
        with self.wrap_database_errors:
            if self._server_txn or self._deferred:
                raw = self.connection.cursor()
                try:
                    run_packet(raw, [*self.take_head(raw), "COMMIT"])
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
