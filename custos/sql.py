"""Plain SQL for the paths every sign-in and refresh takes.

`Model.objects.create()` builds and compiles a new INSERT for every row; on the login path
that cost more CPU than the database's work (five rows per sign-in). `insert()` compiles the
statement once per model and database, and fills it the way Django's own insert does: the
model's defaults from `Model(**values)`, `pre_save()` for auto_now_add, and
`get_db_prep_save()` for every column (JSON, time zones, UUIDs). Models with save signals or
a custom save() go through `save()` so nothing they rely on is skipped.

Writes nothing reads before the commit may wait for the transaction's next statement on
MariaDB: `insert_later`, `update_later` and `write_later` return nothing (no id, no row
count) and report a failure as custos.db.DeferredWriteFailed (see write_later).
`execute_together` sends a room's statements in one execute; `Prepared` is a read the ORM
compiles once."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from datetime import timezone as dt_timezone
from typing import Any, TypeVar

from django.db import DatabaseError, connections, models
from django.db.models import Model, QuerySet
from django.db.models.signals import post_save, pre_save

from custos.db import DeferredWriteFailed, client_error, deferred_write_failed

M = TypeVar("M", bound=Model)

_PLANS: dict[tuple[str, type[Model]], tuple[str, list]] = {}


# Field classes whose value goes to the driver as it is when it is already a str, int, bool
# or None (their get_db_prep_save would return the same value, after several calls).
_AS_IS = (models.CharField, models.TextField, models.IntegerField, models.BooleanField, models.ForeignKey)
_PLAIN_TYPES = (str, int, bool, type(None))


def _plan(model: type[Model], alias: str) -> tuple[str, list]:
    key = (alias, model)
    plan = _PLANS.get(key)
    if plan is None:
        meta = model._meta
        fields = [f for f in meta.local_concrete_fields if f is not meta.auto_field]
        qn = connections[alias].ops.quote_name
        sql = "INSERT INTO {} ({}) VALUES ({})".format(
            qn(meta.db_table), ", ".join(qn(f.column) for f in fields), ", ".join(["%s"] * len(fields)))
        steps = [(f, f.attname, isinstance(f, _AS_IS) and not getattr(f, "auto_now_add", False)
                  and not getattr(f, "auto_now", False)) for f in fields]
        plan = _PLANS[key] = (sql, steps)
    return plan


def _plain(model: type[Model]) -> bool:
    return (model.save is Model.save and not pre_save.has_listeners(model)
            and not post_save.has_listeners(model) and model._meta.auto_field is not None)


def insert(obj: M, *, using: str = "default") -> M:
    """INSERT one new row for `obj` (built with `Model(**values)`) now, and return it with
    its primary key set. Errors are raised here, as the ORM's create() would raise them."""
    model = type(obj)
    if not _plain(model):
        obj.save(force_insert=True, using=using)
        return obj
    conn = connections[using]
    sql, params = _insert_statement(obj, conn, using)
    with conn.cursor() as cur:
        cur.execute(sql, params)
        obj.pk = cur.lastrowid
    obj._state.adding = False
    obj._state.db = using
    return obj


def insert_later(obj: Model, *, using: str = "default") -> None:
    """INSERT one new row for `obj` that nothing reads back before the transaction commits
    (audit events, login history, a new session's row): it may wait and travel with the
    transaction's next statement or its COMMIT, saving a round trip on MariaDB (see
    write_later for when it waits and how a failure is reported).

    It returns nothing and never sets `obj.pk`, not even where the row was written at once
    (SQLite, outside a transaction): code that needs the row's id must use insert(), and
    code that reads `obj.pk` after this fails the same way in every test as in production.
    Refer to the row by a key the caller chose (a UUID, a hash). A model with save signals
    or a custom save() (they see the saved instance and its id), or without an auto primary
    key, cannot be written this way: TypeError."""
    model = type(obj)
    if not _plain(model):
        raise TypeError(f"{model.__name__} has save signals, a custom save() or no auto primary key: use insert()")
    conn = connections[using]
    sql, params = _insert_statement(obj, conn, using)
    _write(conn, sql, params)


def _insert_statement(obj: Model, conn: Any, using: str) -> tuple[str, list]:
    sql, steps = _plan(type(obj), using)
    values = obj.__dict__
    params = []
    for field, attname, as_is in steps:
        value = values.get(attname)
        if not (as_is and type(value) in _PLAIN_TYPES):
            value = field.get_db_prep_save(field.pre_save(obj, True), conn)
        params.append(value)
    return sql, params


def update_later(obj: Model, *fields: str, using: str = "default") -> None:
    """UPDATE the named fields of `obj`'s row (by primary key) to the values `obj` holds,
    prepared by each field as save(update_fields=...) would (pre_save, get_db_prep_save)
    but, like QuerySet.update(), with no save signals, for a write whose outcome nothing
    reads before the commit: it may wait like insert_later (see write_later). Returns
    nothing, no row count either. The statement is built once per model and set of fields."""
    conn = connections[using]
    sql, targets = _update_plan(type(obj), fields, using)
    params = [field.get_db_prep_save(field.pre_save(obj, False), conn) for field in targets]
    params.append(obj.pk)
    _write(conn, sql, params)


_UPDATES: dict[tuple[str, type[Model], tuple[str, ...]], tuple[str, list]] = {}


def _update_plan(model: type[Model], names: tuple[str, ...], alias: str) -> tuple[str, list]:
    key = (alias, model, names)
    plan = _UPDATES.get(key)
    if plan is None:
        meta = model._meta
        fields = [meta.get_field(name) for name in names]
        if not fields or any(not f.concrete or f.primary_key for f in fields):
            raise TypeError(f"update_later sets concrete, non-key fields of {model.__name__}, not {names}")
        qn = connections[alias].ops.quote_name
        sql = "UPDATE {} SET {} WHERE {} = %s".format(
            qn(meta.db_table), ", ".join(f"{qn(f.column)} = %s" for f in fields), qn(meta.pk.column))
        plan = _UPDATES[key] = (sql, fields)
    return plan


def write_later(sql: str, params: list[Any], *, using: str = "default") -> None:
    """A write whose outcome (row count, insert id, error) nobody needs before the commit.

    - On MariaDB inside a transaction it waits and goes out in the packet of the
      transaction's next statement or of its COMMIT, in order, saving a round trip
      (custos.db.mysql).
    - Elsewhere (SQLite, or outside a transaction) it runs at once.

    Either way a failure is raised as custos.db.DeferredWriteFailed, never as the error of
    another statement: by the statement or COMMIT it travelled with, or here when it ran at
    once. Inside an atomic block the block is then marked for rollback, so the transaction
    cannot commit without the write (a savepoint block that the error leaves rolls back to
    its savepoint, as for any error). So no caller can catch the failure as its own, and
    none can read an outcome: this returns None.

    It needs no transaction: outside one it is a plain write (an audit event recorded on its
    own), and requiring an atomic block would only make such callers branch."""
    _write(connections[using], sql, params)


def _write(conn: Any, sql: str, params: list[Any]) -> None:
    held = getattr(conn, "writes_deferred", None)  # the backend decides (custos.db.mysql)
    with conn.cursor() as cur:
        try:
            if held is None:
                cur.execute(sql, params)
            else:
                with held():
                    cur.execute(sql, params)
        except DeferredWriteFailed:
            raise  # a write held earlier, reported by this statement's packet
        except DatabaseError as exc:
            # the database refused this write, which ran at once: the same error type wherever
            # a deferred write fails, so no code comes to rely on catching it here (on MariaDB
            # it surfaces later). Not a broken transaction or a lost connection: no write's fault.
            if not isinstance(exc.__cause__, conn.Database.Error) or client_error(exc):
                raise
            raise deferred_write_failed(conn, sql, exc) from exc


def execute_together(cursor: Any, *statements: tuple[str, Sequence[Any]]) -> list[int]:
    """Several statements of one room, in order, in one round trip where the database takes
    multi-statement packets (MariaDB: one text with bound parameters, custos.db.mysql) and
    one after the other elsewhere (SQLite). Returns each statement's row count and leaves the
    cursor at the last one's result, to fetch from as usual. A failing statement raises its
    own error and the ones after it do not run; the block's transaction decides the rest.

    On a hot path one execute instead of several saves what Django's cursor layers and a
    round trip cost per statement (it is counted as one execute in the query metrics)."""
    conn = cursor.db
    if not getattr(conn, "multi_statements", False):
        counts = []
        for sql, params in statements:
            cursor.execute(sql, params)
            counts.append(cursor.rowcount)
        return counts
    cursor.execute(";\n".join(sql for sql, _ in statements), [p for _, params in statements for p in params])
    counts = [cursor.rowcount]
    for _ in statements[1:]:
        cursor.nextset()  # reads the next result, or raises that statement's error (as Django's)
        counts.append(cursor.rowcount)
    return counts


class Prepared:
    """A read the ORM compiles once per database, run again with new values.

    Compiling a queryset (joins, annotations, lookups) is most of an ORM read's CPU on the
    sign-in path, and the SQL never changes, only the values. `build` receives one
    placeholder per name and returns the queryset; `first()` runs the compiled SQL and
    builds the instance as the ORM's own iterator does: the backend's and the fields'
    converters on every column, `Model.from_db`, annotations as attributes. A lookup that
    rewrites its value (iexact escapes LIKE wildcards) must be given the rewritten value:
    see `like_exact`."""

    def __init__(self, build: Callable[..., QuerySet], *names: str) -> None:
        self._build = build
        self._names = names
        self._compiled: dict[str, _Compiled] = {}

    def _compile(self, alias: str) -> _Compiled:
        marks = {name: f"\x00custos:{name}\x00" for name in self._names}
        qs = self._build(**marks)
        compiler = qs.query.get_compiler(using=alias)
        sql, params = compiler.as_sql()
        params = list(params)
        if compiler.klass_info is None or compiler.klass_info.get("related_klass_infos"):
            raise TypeError("Prepared reads build model instances without select_related")
        fields = compiler.klass_info["select_fields"]
        compiled = self._compiled[alias] = _Compiled(
            model=qs.model, sql=sql, params=params, slots=[params.index(marks[name]) for name in self._names],
            converters=compiler.get_converters([expr for expr, _, _ in compiler.select]),
            fields=fields, attnames=[compiler.select[i][0].target.attname for i in fields],
            annotations=dict(compiler.annotation_col_map))
        return compiled

    def first(self, *, using: str = "default", **values: Any) -> Model | None:
        c = self._compiled.get(using) or self._compile(using)
        params = list(c.params)
        for name, slot in zip(self._names, c.slots):
            params[slot] = values[name]
        conn = connections[using]
        with conn.cursor() as cur:
            cur.execute(c.sql, params)
            found = cur.fetchone()
        if found is None:
            return None
        row = list(found)
        for pos, (converters, expression) in c.converters.items():
            value = row[pos]
            for convert in converters:
                value = convert(value, expression, conn)
            row[pos] = value
        obj = c.model.from_db(using, c.attnames, [row[i] for i in c.fields])
        for name, pos in c.annotations.items():
            setattr(obj, name, row[pos])
        return obj


@dataclass(frozen=True)
class _Compiled:
    model: type[Model]
    sql: str
    params: list
    slots: list[int]
    converters: dict
    fields: list[int]
    attnames: list[str]
    annotations: dict[str, int]


def like_exact(value: str, *, using: str = "default") -> str:
    """The value an `iexact` lookup sends, for a Prepared read that uses one."""
    return connections[using].ops.prep_for_iexact_query(value)


def aware_datetime(value: Any) -> datetime:
    """A datetime column read by plain SQL: naive UTC on MySQL, maybe text on SQLite."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=dt_timezone.utc)
