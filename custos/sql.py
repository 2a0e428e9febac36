"""Plain-SQL inserts for the paths every sign-in takes.

`Model.objects.create()` builds and compiles a new INSERT for every row; on the login path
that cost more CPU than the database's work (five rows per sign-in). `insert()` compiles the
statement once per model and database, and fills it the way Django's own insert does: the
model's defaults from `Model(**values)`, `pre_save()` for auto_now_add, and
`get_db_prep_save()` for every column (JSON, time zones, UUIDs). Models with save signals or
a custom save() go through `save()` so nothing they rely on is skipped."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from datetime import timezone as dt_timezone
from typing import Any, TypeVar

from django.db import connections
from django.db import models
from django.db.models import Model, QuerySet
from django.db.models.signals import post_save, pre_save

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


def insert(obj: M, *, using: str = "default", later: bool = False) -> M:
    """INSERT one new row for `obj` (built with `Model(**values)`) and set its primary key.

    `later=True` is for rows nobody reads back before the transaction commits (audit
    events, login history): the INSERT may wait and travel with the transaction's next
    statement (see write_later), and then `obj.pk` stays None."""
    model = type(obj)
    if not _plain(model):
        obj.save(force_insert=True, using=using)
        return obj
    conn = connections[using]
    sql, steps = _plan(model, using)
    values = obj.__dict__
    params = []
    for field, attname, as_is in steps:
        value = values.get(attname)
        if not (as_is and type(value) in _PLAIN_TYPES):
            value = field.get_db_prep_save(field.pre_save(obj, True), conn)
        params.append(value)
    with _maybe_deferred(conn, later) as deferred, conn.cursor() as cur:
        cur.execute(sql, params)
        if not deferred:
            obj.pk = cur.lastrowid
    obj._state.adding = False
    obj._state.db = using
    return obj


def write_later(sql: str, params: list[Any], *, using: str = "default") -> None:
    """A write inside a transaction whose outcome (row count, error) nobody needs before the
    commit. On MariaDB it waits and goes out in the packet of the transaction's next
    statement or of its COMMIT, in order, saving a round trip (custos.db.mysql); an error in
    it fails that statement or the commit, and the whole transaction rolls back. Elsewhere,
    and outside a transaction, it runs now."""
    conn = connections[using]
    with _maybe_deferred(conn, True), conn.cursor() as cur:
        cur.execute(sql, params)


@contextmanager
def _maybe_deferred(conn: Any, later: bool) -> Iterator[bool]:
    # the backend decides (custos.db.mysql: inside a transaction); others run writes at once
    deferred = getattr(conn, "writes_deferred", None)
    if not later or deferred is None:
        yield False
        return
    with deferred() as held:
        yield held


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
