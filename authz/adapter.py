"""A Casbin adapter on the `casbin_rule` table that does what the stock Django adapter
(casbin_adapter.adapter.Adapter) does not: batch adds and removes, update_policy, and
filtered (per-domain) loading. Rules are deduplicated by `rule_key`."""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from casbin import persist
from casbin.persist import BatchAdapter, UpdateAdapter
from casbin.persist.adapter_filtered import FilteredAdapter
from django.db import IntegrityError, connection, transaction

from .models import RULE_FIELDS, CasbinRule, rule_key

DOMAIN_FIELD = {"p": 1, "g": 2}  # where the domain sits in each rule type of our model


@dataclass(frozen=True)
class DomainFilter:
    """Load only these domains' rules (Casbin's filtered-policy loading)."""

    domains: tuple[str, ...]


def iter_all_rows(chunk: int = 20000) -> Iterator[tuple[str, str, str, str, str]]:
    """(ptype, v0, v1, v2, v3) of every rule, streamed in chunks: raw SQL, because the ORM's
    per-row object cost would be most of the load time at a million rows, and chunks,
    because holding every raw row at once would double the peak memory."""
    with connection.cursor() as cur:
        cur.execute("SELECT ptype, v0, v1, v2, v3 FROM casbin_rule")
        while True:
            rows = cur.fetchmany(chunk)
            if not rows:
                return
            yield from rows


def fetch_rows(domains: Sequence[str]) -> list[tuple[str, str, str, str, str]]:
    """The rules of the given domains: one index range per rule type and domain."""
    with connection.cursor() as cur:
        rows: list = []
        for dom in domains:
            cur.execute("SELECT ptype, v0, v1, v2, v3 FROM casbin_rule WHERE ptype = %s AND v1 = %s", ["p", dom])
            rows.extend(cur.fetchall())
            cur.execute("SELECT ptype, v0, v1, v2, v3 FROM casbin_rule WHERE ptype = %s AND v2 = %s", ["g", dom])
            rows.extend(cur.fetchall())
        return rows


def _row(ptype: str, rule: Sequence[str]) -> CasbinRule:
    if not 1 <= len(rule) <= len(RULE_FIELDS):
        raise ValueError("a rule has 1 to 6 values")
    values = {f: str(v) for f, v in zip(RULE_FIELDS, rule)}
    return CasbinRule(ptype=ptype, rule_key=rule_key(ptype, list(rule)), **values)


class CustosAdapter(FilteredAdapter, BatchAdapter, UpdateAdapter):
    def __init__(self) -> None:
        self._filtered = False

    # ---- loading -------------------------------------------------------------------------
    def load_policy(self, model) -> None:
        self._filtered = False
        for row in CasbinRule.objects.order_by("id").iterator(chunk_size=10000):
            persist.load_policy_line(str(row), model)

    def load_filtered_policy(self, model, filter: DomainFilter) -> None:  # noqa: A002
        self._filtered = True
        for ptype, v0, v1, v2, v3 in fetch_rows(filter.domains):
            values = [v for v in (v0, v1, v2, v3) if v is not None]
            persist.load_policy_line(", ".join([ptype, *values]), model)

    def is_filtered(self) -> bool:
        return self._filtered

    # ---- writing -------------------------------------------------------------------------
    def save_policy(self, model) -> bool:
        with transaction.atomic():
            CasbinRule.objects.all().delete()
            rows = [_row(ptype, rule) for sec in ("p", "g") if sec in model.model
                    for ptype, ast in model.model[sec].items() for rule in ast.policy]
            CasbinRule.objects.bulk_create(rows, batch_size=5000, ignore_conflicts=True)
        return True

    def add_policy(self, sec: str, ptype: str, rule: Sequence[str]) -> bool:
        return self.add_policies(sec, ptype, [rule])

    def add_policies(self, sec: str, ptype: str, rules: Iterable[Sequence[str]]) -> bool:
        rows = [_row(ptype, r) for r in rules]
        if not rows:
            return False
        keys = [r.rule_key for r in rows]
        existing = set(CasbinRule.objects.filter(rule_key__in=keys).values_list("rule_key", flat=True))
        fresh = [r for r in rows if r.rule_key not in existing]
        try:
            with transaction.atomic():
                CasbinRule.objects.bulk_create(fresh, batch_size=5000)
        except IntegrityError:
            # A concurrent writer added one of them: what matters is that every rule exists.
            CasbinRule.objects.bulk_create(fresh, batch_size=5000, ignore_conflicts=True)
        return bool(fresh)

    def remove_policy(self, sec: str, ptype: str, rule: Sequence[str]) -> bool:
        return self.remove_policies(sec, ptype, [rule])

    def remove_policies(self, sec: str, ptype: str, rules: Iterable[Sequence[str]]) -> bool:
        keys = [rule_key(ptype, list(r)) for r in rules]
        deleted, _ = CasbinRule.objects.filter(rule_key__in=keys).delete()
        return deleted > 0

    def remove_filtered_policy(self, sec: str, ptype: str, field_index: int, *field_values: str) -> bool:
        if not 0 <= field_index < len(RULE_FIELDS) or not field_values:
            return False
        if field_index + len(field_values) > len(RULE_FIELDS):
            return False
        query = {"ptype": ptype}
        for offset, value in enumerate(field_values):
            if value != "":
                query[RULE_FIELDS[field_index + offset]] = value
        deleted, _ = CasbinRule.objects.filter(**query).delete()
        return deleted > 0

    def update_policy(self, sec: str, ptype: str, old_rule: Sequence[str], new_rule: Sequence[str]) -> bool:
        return self.update_policies(sec, ptype, [old_rule], [new_rule])

    def update_policies(self, sec: str, ptype: str, old_rules: Sequence[Sequence[str]],
                        new_rules: Sequence[Sequence[str]]) -> bool:
        if len(old_rules) != len(new_rules):
            raise ValueError("old and new rules differ in number")
        with transaction.atomic():
            changed = False
            for old, new in zip(old_rules, new_rules):
                replacement = _row(ptype, new)
                fields = {f: getattr(replacement, f) for f in (*RULE_FIELDS, "rule_key")}
                changed |= CasbinRule.objects.filter(rule_key=rule_key(ptype, list(old))).update(**fields) > 0
        return changed

    def update_filtered_policies(self, sec, ptype, new_rules, field_index, *field_values):
        with transaction.atomic():
            self.remove_filtered_policy(sec, ptype, field_index, *field_values)
            self.add_policies(sec, ptype, new_rules)
        return new_rules
