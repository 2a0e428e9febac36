"""Mutation run over the security-critical modules (issue 14): `make mutation`, not in CI.

Why a small script and not mutmut: mutmut 3 (what pip gives) rewrites every mutated function
into a trampoline under mutants/, maps tests to functions with a stats run of the whole suite,
and only mutates inside functions; with Django's app registry, pytest-django's test database
and decorated services that is one more layer to trust, and module constants (MAX_ID, the
algorithm list) would go unmutated. Here each mutant is one change to one AST node, served
from memory by a meta-path finder for its module (no file is ever rewritten, not even in the
private copy), and runs against the tests that executed its statement.

Operators: comparison swaps (< <=, == !=, in / not in, is / is not), and/or swaps and each
operand of a boolean dropped, `not` and unary minus removed, arithmetic swaps, numbers +1,
True/False flipped, min/max and any/all swapped, a condition negated, `return x` as
`return None`, and a call statement, raise, assignment to an attribute or item, break or
continue removed. Short strings too with --strings (mostly dict keys, which crash, or
messages, which are cosmetic).

How a run goes:
1. The repository is copied to a private directory (--work, /tmp/custos-mutation); the tests
   run there with their own var dir and test database (CUSTOS_TEST_DB_SUFFIX=mutation-*).
2. One traced pytest run over the modules' test files records which lines of the target
   modules each test executes (and its duration). It must pass: a red baseline stops the run.
   So must one untraced run of the selected tests through the runner below.
3. Each mutant runs only the tests that executed its statement (a module-level statement:
   those that executed a line reading what it defines), tests/test_mutation_* first, then
   fastest first, with -x and -p no:cacheprovider, in a forked child of a worker that
   preloaded pytest and the third-party libraries. A child past its timeout (20 s + 3 times
   the traced duration of its tests, at least 30 s) is killed: the mutant counts as killed.
4. Per module: mutants, killed, timed out, survived, survivors judged equivalent (EQUIVALENT
   below, each with its reason), and every other survivor; var/mutation/report.md.

Tests that start Custos in another process (gunicorn, manage.py) never see a mutant, which
lives in the test process only; they kill nothing here. Tests slower than --slowest (15 s
traced: the TOTP flows that wait for the next time step, the random equivalence sweep) are
left out: every survivor would wait for them.

A line ending in `# pragma: no mutate` is not mutated.
"""
from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# module -> (path, test files that exercise it, top-level names to mutate or None for all)
MODULES: dict[str, tuple[str, list[str], set[str] | None]] = {
    "tokens": ("sessions_app/tokens.py",
               ["tests/test_tokens.py", "tests/test_role_changes.py", "tests/test_auth_flow.py",
                "tests/test_refresh.py", "tests/test_hostile_input.py", "tests/test_mutation_tokens.py"], None),
    "revstate": ("sessions_app/revstate.py",
                 ["tests/test_tokens.py", "tests/test_role_changes.py", "tests/test_auth_flow.py",
                  "tests/test_refresh.py", "tests/test_hot_paths.py", "tests/test_mutation_tokens.py"], None),
    "authentication": ("sessions_app/authentication.py",
                       ["tests/test_tokens.py", "tests/test_role_changes.py", "tests/test_auth_flow.py",
                        "tests/test_hostile_input.py", "tests/test_bad_input.py", "tests/test_hot_paths.py",
                        "tests/test_mutation_tokens.py"], None),
    "authz_selectors": ("authz/selectors.py",
                        ["tests/test_authz_api.py", "tests/test_authz_engine.py", "tests/test_authz_equivalence.py",
                         "tests/test_internal.py", "tests/test_mutation_authz.py"], None),
    "throttle": ("accounts/security/throttle.py",
                 ["tests/test_login_security.py", "tests/test_accounts.py", "tests/test_mutation_throttle.py"],
                 None),
    "mfa": ("accounts/security/mfa.py",
            ["tests/test_login_security.py", "tests/test_accounts.py", "tests/test_notices.py",
             "tests/test_mutation_mfa.py"], None),
    "passwords": ("accounts/services/passwords.py",
                  ["tests/test_passwords.py", "tests/test_accounts.py", "tests/test_preaccount_hijack.py",
                   "tests/test_reset_request.py", "tests/test_password_rules.py", "tests/test_mutation_passwords.py"],
                  None),
    "backends": ("keys/backends.py",
                 ["tests/test_tokens.py", "tests/test_keys.py", "tests/test_hostile_input.py",
                  "tests/test_mutation_keys.py"], None),
    "keyring": ("keys/keyring.py",
                ["tests/test_keys.py", "tests/test_tokens.py", "tests/test_mutation_keys.py"], None),
    "keys_services": ("keys/services.py",
                      ["tests/test_keys.py", "tests/test_operations.py", "tests/test_mutation_keys.py"], None),
    # event recording only: export and purge are not in the security-critical set
    "audit": ("audit/services.py",
              ["tests/test_audit_trail.py", "tests/test_db_transactions.py", "tests/test_audit_export.py",
               "tests/test_mutation_audit.py"],
              {"_FORBIDDEN_KEYS", "Actor", "_scrub", "_nudge_export", "_last_nudge", "event_record"}),
}

NO_MUTATE = "pragma: no mutate"

# Survivors judged equivalent (no test can tell them from the original), keyed by what the
# report prints: (path, enclosing function, operator, original, replacement). Matched by text,
# not line, so they survive edits elsewhere; a changed statement drops out and is judged again.
EQUIVALENT: dict[tuple[str, str, str, str, str], str] = {
    ("sessions_app/tokens.py", "CustosAccessToken.verify", "remove call", "super().verify()", "pass"):
        "simplejwt's verify checks exp and jti again; the backend refused both already (with the same leeway)",
    ("sessions_app/revstate.py", "RevocationState.__init__", "constant", "0.0", "1.0"):
        "the first poll's start: the monotonic clock is far past either value, so the first question polls",
    ("sessions_app/revstate.py", "RevocationState.is_revoked", "drop operand",
     "sid is not None and sid in self.revoked_sessions", "sid in self.revoked_sessions"):
        "None is never a key of revoked_sessions",
    ("sessions_app/authentication.py", "_principal", "and/or", 'not raw or " " in raw', "not raw and ' ' in raw"):
        "the backend refuses an empty token and one with a space (not three base64url segments) alike",
    ("sessions_app/authentication.py", "_principal", "drop operand", 'not raw or " " in raw', "' ' in raw"):
        "the backend refuses an empty token with the same TokenInvalid",
    ("sessions_app/authentication.py", "_principal", "drop operand", 'not raw or " " in raw', "not raw"):
        "the backend refuses a token with a space (its alphabet check) with the same TokenInvalid",
    ("sessions_app/authentication.py", "_principal", "remove raise", "raise TokenInvalid()", "pass"):
        "the backend refuses an empty token and one with a space with the same TokenInvalid",
    ("audit/services.py", "", "constant", "0.0", "1.0"):
        "the first nudge's start: the monotonic clock is far past either value",
    ("keys/backends.py", "_b64", "remove minus", "-len(segment)", "len(segment)"):
        "padding for a length of 0 or 2 mod 4 is the same; for 3 the decoder ignores the extra '=='",
    ("keys/backends.py", "_b64", "remove raise", 'raise TokenRejected("malformed") from exc', "pass"):
        "unreachable in _b64: after the length and alphabet checks the decoder refuses nothing",
    ("keys/backends.py", "KeyRingTokenBackend._check_claims", "drop operand",
     'not isinstance(claims["iss"], str) or claims["iss"] != self.issuer', "claims['iss'] != self.issuer"):
        "a value that is not a string never equals the issuer",
    ("keys/backends.py", "KeyRingTokenBackend._check_claims", "drop operand",
     "not isinstance(aud, str) or aud != self.audience", "aud != self.audience"):
        "a value that is not a string (nor a list, handled above) never equals the audience",
    ("keys/keyring.py", "KeyRing", "constant", "0.0", "1.0"):
        "loaded_at / last_forced start: the monotonic clock is far past either value, so the first use loads",
    ("keys/keyring.py", "KeyRing._ensure_fresh", "comparison",
     "time.monotonic() - self.loaded_at > conf().keyring_refresh",
     "time.monotonic() - self.loaded_at >= conf().keyring_refresh"):
        "double-checked: the other, unchanged test of the same condition still decides",
    ("keys/keyring.py", "KeyRing._ensure_fresh", "arithmetic", "time.monotonic() - self.loaded_at",
     "time.monotonic() + self.loaded_at"):
        "double-checked: the other, unchanged test of the same condition still decides",
    ("keys/keyring.py", "KeyRing.jwks_document", "remove call", "self._ensure_fresh()", "pass"):
        "published(), called next, refreshes the ring itself",
    ("keys/keyring.py", "KeyRing.reload", "constant", "16", "17"):
        "the ring's version is an opaque marker, only ever compared for equality",
    ("accounts/security/throttle.py", "_incr", "remove call", "cache.add(key, 0, ttl)", "pass"):
        "without it the increment finds no key and the fallback below adds it: the same count",
    ("accounts/security/throttle.py", "_redis", "constant", "True", "False"):
        "one Redis server: django-redis gives the same client for reads and writes",
    ("keys/services.py", "_thumbprint", "constant", "True", "False"):
        "the members are already listed in sorted order, so sort_keys changes nothing",
    ("keys/backends.py", "epoch_ok", "drop operand",
     "_number(value) and (not isinstance(value, float) or math.isfinite(value)) and 0 <= value …",
     "_number(value) and 0 <= value <= MAX_EPOCH"):
        "NaN fails every comparison and an infinity the range: the range check refuses both alone",
    ("authz/selectors.py", "may", "drop operand",
     "domain != PLATFORM_DOMAIN and e.enforce(subject, PLATFORM_DOMAIN, obj, act)",
     "e.enforce(subject, PLATFORM_DOMAIN, obj, act)"):
        "in the platform domain the first enforce asked the same question",
    ("authz/selectors.py", "check_batch", "arithmetic", "len(results) - yes", "len(results) + yes"):
        "the condition only guards adding the denied count, which is then 0",
    ("authz/selectors.py", "role_permissions", "constant", "False", "True"):
        "roles hold no roles (a grant's subject is a user or a service), so nothing is inherited",
    ("keys/backends.py", "_b64", "drop operand", "len(segment) % 4 == 1 or not _SEGMENT.fullmatch(segment)",
     "not _SEGMENT.fullmatch(segment)"):
        "a length of 1 mod 4 is no base64: the decoder refuses it, and the refusal is the same",
    ("keys/backends.py", "_b64", "arithmetic", "len(segment) % 4", "len(segment) // 4"):
        "refuses segments of 4 to 7 characters, which no token of ours has; 1 mod 4 the decoder refuses",
    ("accounts/security/throttle.py", "Guard.__init__", "remove assignment", "self.count = 0", "pass"):
        "begin() sets the count before anything reads it",
    ("accounts/security/throttle.py", "Guard.__init__", "remove assignment", "self._ip_counted = False", "pass"):
        "nothing reads _ip_counted",
    ("accounts/security/throttle.py", "Guard.begin", "arithmetic", "time.time() // window", "time.time() / window"):
        "inside int(): a positive quotient floors the same either way",
    ("accounts/security/throttle.py", "counted_limit", "arithmetic", "time.time() // window",
     "time.time() / window"): "inside int(): a positive quotient floors the same either way",
    ("accounts/security/throttle.py", "Guard.__init__", "constant", "0", "1"):
        "begin() sets the count before anything reads it",
    ("accounts/security/throttle.py", "Guard.__init__", "constant", "False", "True"):
        "nothing reads _ip_counted",
    ("sessions_app/revstate.py", "roles_cutoff", "constant", "6", "7"):
        "a datetime holds microseconds: rounding to 7 places gives the same float",
    ("accounts/security/mfa.py", "mfa_methods", "drop operand",
     "methods and BackupCode.objects.filter(user_id=user_id, used_at__isnull=True).exists()",
     "BackupCode.objects.filter(user_id=user_id, used_at__isnull=True).exists()"):
        "unused backup codes exist only beside a confirmed device (turning TOTP off voids them)",
    ("accounts/security/mfa.py", "totp_setup", "constant", "4", "5"):
        "presentation: the QR code's pixel scale",
    ("accounts/security/mfa.py", "_verify_totp", "drop operand",
     "isinstance(code, str) and code.isdigit() and len(code) == device.digits",
     "isinstance(code, str) and len(code) == device.digits"):
        "an early exit: a code with a non-digit never equals a generated one",
    ("accounts/security/mfa.py", "_verify_totp", "drop operand",
     "isinstance(code, str) and code.isdigit() and len(code) == device.digits",
     "isinstance(code, str) and code.isdigit()"):
        "an early exit: a code of another length never equals a generated one (zero-filled to the digits)",
    ("keys/backends.py", "TokenRejected.__init__", "remove call", "super().__init__(reason)", "pass"):
        "BaseException.__new__ keeps the arguments already: args and str() are the same",
    ("accounts/security/mfa.py", "second_factor_check", "drop operand", 'method in (None, "totp") and code.isdigit()',
     "method in (None, 'totp')"): "_verify_totp refuses a code with a non-digit itself",
    ("accounts/security/mfa.py", "second_factor_check", "drop operand",
     'matched is None and method in (None, "backup_code") and len(code.replace("-", "")) == 10',
     "method in (None, 'backup_code') and len(code.replace('-', '')) == 10"):
        "a TOTP that matched has 6 digits, never the 10 characters of a backup code",
    ("accounts/security/mfa.py", "second_factor_check", "drop operand",
     'matched is None and method in (None, "backup_code") and len(code.replace("-", "")) == 10',
     "matched is None and method in (None, 'backup_code')"):
        "a code of another length hashes to no stored backup code",
    ("accounts/security/mfa.py", "challenge_issue", "constant", "32", "33"):
        "a longer random challenge token: nothing reads its length",
    ("accounts/services/passwords.py", "_password_change", "remove call", "_spend_one_hash(current_password)", "pass"):
        "timing only (an account without a password answers as slowly); the suite makes no timing assertions",
    ("accounts/security/mfa.py", "challenge_spend", "drop operand",
     "not isinstance(token, str) or not token or len(token) > 256",
     "not isinstance(token, str) or len(token) > 256"):
        "an early exit: an empty token hashes to no stored challenge",
    ("accounts/security/mfa.py", "challenge_spend", "drop operand",
     "not isinstance(token, str) or not token or len(token) > 256", "not isinstance(token, str) or not token"):
        "an early exit: a longer token hashes to no stored challenge",
    ("accounts/security/mfa.py", "challenge_spend", "comparison", "len(token) > 256", "len(token) >= 256"):
        "an early exit: a token of 256 characters hashes to no stored challenge (ours have 43)",
    ("accounts/security/mfa.py", "challenge_spend", "constant", "256", "257"):
        "an early exit: a token of 257 characters hashes to no stored challenge (ours have 43)",
    ("accounts/security/throttle.py", "_h", "constant", "32", "33"):
        "another length of the same digest: every counter's key comes from _h alike",
    ("keys/backends.py", "KeyRingTokenBackend", "constant", "50_000", "50001"):
        "a capacity bound; the eviction it sets is tested with the bound lowered to 2",
}
PRELOAD = ["pytest", "faker", "factory",
           "django", "django.test", "django.db.models", "django.core.cache", "rest_framework", "jwt",
           "cryptography.hazmat.primitives.asymmetric.ec", "cryptography.hazmat.primitives.asymmetric.rsa",
           "casbin", "celery", "segno", "argon2", "requests", "yaml", "pyotp", "prometheus_client"]


def say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


# ---- mutants --------------------------------------------------------------------------------
@dataclass
class Mutant:
    module: str
    path: str
    line: int
    op: str
    before: str
    after: str
    start: int  # byte offsets of the replaced segment
    end: int
    text: str  # what replaces it
    stmt_lines: tuple[int, int]
    module_level: bool
    uses: list[int] = field(default_factory=list)  # a module-level mutant: lines that read what it defines
    status: str = ""
    seconds: float = 0.0
    killer: str = ""
    tests: int = 0
    note: str = field(default="")
    scope: str = ""  # the enclosing class and function, dotted ("" at module level)
    equivalent: str = ""

    @property
    def key(self) -> str:
        return f"{self.path}:{self.line}:{self.op}:{self.after}"


_COMPARE_SWAP = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
                 ast.NotEq: ast.Eq, ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is}
_BINOP_SWAP = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.FloorDiv: ast.Div,
               ast.Mod: ast.FloorDiv, ast.Pow: ast.Mult, ast.BitOr: ast.BitAnd, ast.BitAnd: ast.BitOr,
               ast.LShift: ast.RShift, ast.RShift: ast.LShift}
_NAME_SWAP = {"min": "max", "max": "min", "any": "all", "all": "any"}


class _Generator:
    def __init__(self, module: str, path: str, source: bytes, include: set[str] | None, strings: bool) -> None:
        self.module, self.path, self.source, self.include, self.strings = module, path, source, include, strings
        self.lines = source.split(b"\n")
        self.offsets = [0]
        for line in self.lines:
            self.offsets.append(self.offsets[-1] + len(line) + 1)
        self.mutants: list[Mutant] = []
        self.seen: set[tuple[int, int, bytes]] = set()
        self.scope: list[str] = []
        self.reads: dict[str, set[int]] = {}  # a name (or attribute name) -> lines that read it
        self.defines: set[str] = set()  # what the module-level statement being walked defines

    def offset(self, line: int, col: int) -> int:
        return self.offsets[line - 1] + col

    def segment(self, node: ast.AST) -> str:
        return self.source[self.offset(node.lineno, node.col_offset):
                           self.offset(node.end_lineno, node.end_col_offset)].decode()

    def add(self, node: ast.AST, op: str, after: str, stmt: ast.stmt, module_level: bool,
            wrap: bool = True) -> None:
        if NO_MUTATE in self.lines[node.lineno - 1].decode(errors="replace"):
            return
        start, end = self.offset(node.lineno, node.col_offset), self.offset(node.end_lineno, node.end_col_offset)
        text = f"({after})" if wrap else after
        if (start, end, text.encode()) in self.seen:
            return
        self.seen.add((start, end, text.encode()))
        before = self.segment(node)
        uses = sorted({ln for name in self.defines for ln in self.reads.get(name, ())
                       if not stmt.lineno <= ln <= stmt.end_lineno}) if module_level else []
        self.mutants.append(Mutant(self.module, self.path, node.lineno, op, _short(before), _short(after),
                                   start, end, text, (stmt.lineno, stmt.end_lineno), module_level, uses,
                                   scope=".".join(self.scope)))

    # -- walking -------------------------------------------------------------------------------
    def run(self) -> list[Mutant]:
        tree = ast.parse(self.source)
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                self.reads.setdefault(node.id, set()).add(node.lineno)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
                self.reads.setdefault(node.attr, set()).add(node.lineno)
        for stmt in tree.body:
            if self.include is not None and not (_names(stmt) & self.include):
                continue
            self.defines = _names(stmt)
            self.statement(stmt, in_function=False)
        return self.mutants

    def body(self, stmts: list[ast.stmt], in_function: bool) -> None:
        for i, stmt in enumerate(stmts):
            if i == 0 and isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(
                    stmt.value.value, str):
                continue  # docstring
            self.statement(stmt, in_function)

    def statement(self, stmt: ast.stmt, in_function: bool) -> None:
        if isinstance(stmt, (ast.Import, ast.ImportFrom, ast.Global, ast.Nonlocal, ast.Pass)):
            return
        if isinstance(stmt, ast.If) and isinstance(stmt.test, ast.Name) and stmt.test.id == "TYPE_CHECKING":
            return  # imports for annotations only
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            # defaults are evaluated at import, but only the function's callers can tell them apart
            self.scope.append(stmt.name)
            for default in [*stmt.args.defaults, *[d for d in stmt.args.kw_defaults if d is not None]]:
                self.expression(default, stmt, module_level=False)
            self.body(stmt.body, in_function=True)
            self.scope.pop()
            return
        if isinstance(stmt, ast.ClassDef):
            outer = self.defines
            self.scope.append(stmt.name)
            for inner in stmt.body:  # a class attribute: its readers, and the class's
                self.defines = outer | _names(inner)
                self.body([inner], in_function=False)
            self.defines = outer
            self.scope.pop()
            return
        module_level = not in_function
        if in_function:
            if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
                self.add(stmt, "remove call", "pass", stmt, module_level, wrap=False)
            elif isinstance(stmt, ast.Raise):
                self.add(stmt, "remove raise", "pass", stmt, module_level, wrap=False)
            elif isinstance(stmt, (ast.Continue, ast.Break)):
                self.add(stmt, f"remove {type(stmt).__name__.lower()}", "pass", stmt, module_level, wrap=False)
            elif isinstance(stmt, ast.Assign) and all(isinstance(t, (ast.Attribute, ast.Subscript))
                                                      for t in stmt.targets):
                self.add(stmt, "remove assignment", "pass", stmt, module_level, wrap=False)
            elif isinstance(stmt, ast.Return) and stmt.value is not None and not (
                    isinstance(stmt.value, ast.Constant) and stmt.value.value is None):
                self.add(stmt.value, "return None", "None", stmt, module_level)
        if isinstance(stmt, ast.AugAssign):
            swap = _BINOP_SWAP.get(type(stmt.op))
            if swap is not None:
                new = ast.AugAssign(target=stmt.target, op=swap(), value=stmt.value)
                self.add(stmt, "augmented operator", ast.unparse(new), stmt, module_level, wrap=False)
        if isinstance(stmt, (ast.If, ast.While)) or isinstance(stmt, ast.Assert):
            self.condition(stmt.test, stmt, module_level)
        # expressions of this statement (not of nested statements)
        for name, value in ast.iter_fields(stmt):
            if name in ("annotation", "returns", "type_comment"):
                continue
            values = value if isinstance(value, list) else [value]
            for v in values:
                if isinstance(v, ast.expr):
                    self.expression(v, stmt, module_level)
                elif isinstance(v, ast.stmt):
                    self.statement(v, in_function)
                elif isinstance(v, ast.ExceptHandler):
                    self.body(v.body, in_function)
        if isinstance(stmt, ast.ClassDef):
            return

    def condition(self, test: ast.expr, stmt: ast.stmt, module_level: bool) -> None:
        if isinstance(test, (ast.Compare, ast.BoolOp)) or (isinstance(test, ast.UnaryOp)
                                                           and isinstance(test.op, ast.Not)):
            return  # their own operators are mutated
        self.add(test, "negate condition", f"not ({self.segment(test)})", stmt, module_level)

    def expression(self, node: ast.expr, stmt: ast.stmt, module_level: bool) -> None:
        for sub in _walk_expr(node):
            self.one(sub, stmt, module_level)

    def one(self, node: ast.expr, stmt: ast.stmt, module_level: bool) -> None:
        seg = self.segment
        if isinstance(node, ast.Compare):
            for i, op in enumerate(node.ops):
                swap = _COMPARE_SWAP.get(type(op))
                if swap is not None:
                    ops = list(node.ops)
                    ops[i] = swap()
                    new = ast.Compare(left=node.left, ops=ops, comparators=node.comparators)
                    self.add(node, "comparison", ast.unparse(new), stmt, module_level)
        elif isinstance(node, ast.BoolOp):
            other = ast.Or() if isinstance(node.op, ast.And) else ast.And()
            self.add(node, "and/or", ast.unparse(ast.BoolOp(op=other, values=node.values)), stmt, module_level)
            for i in range(len(node.values)):
                rest = node.values[:i] + node.values[i + 1:]
                text = ast.unparse(rest[0] if len(rest) == 1 else ast.BoolOp(op=node.op, values=rest))
                self.add(node, "drop operand", text, stmt, module_level)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub)):
            self.add(node, f"remove {'not' if isinstance(node.op, ast.Not) else 'minus'}", seg(node.operand),
                     stmt, module_level)
        elif isinstance(node, ast.BinOp):
            swap = _BINOP_SWAP.get(type(node.op))
            if swap is not None:
                self.add(node, "arithmetic", ast.unparse(ast.BinOp(left=node.left, op=swap(), right=node.right)),
                         stmt, module_level)
        elif isinstance(node, ast.IfExp):
            self.condition(node.test, stmt, module_level)
        elif isinstance(node, ast.Name) and node.id in _NAME_SWAP and isinstance(node.ctx, ast.Load):
            self.add(node, "builtin swap", _NAME_SWAP[node.id], stmt, module_level, wrap=False)
        elif isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool):
                self.add(node, "constant", repr(not value), stmt, module_level)
            elif isinstance(value, (int, float)):
                self.add(node, "constant", repr(value + 1), stmt, module_level)
            elif (self.strings and isinstance(value, str) and len(value) <= 40
                  and not any(c.isspace() for c in value)):
                self.add(node, "string", repr(f"XX{value}XX"), stmt, module_level)


def _walk_expr(node: ast.expr):
    """Every expression node under `node`, skipping f-string parts (their positions are the
    whole literal in Python 3.11) and lambda/comprehension targets."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        if isinstance(n, ast.JoinedStr):
            continue
        for child in ast.iter_child_nodes(n):
            if isinstance(child, ast.expr) and not (isinstance(child, ast.Name) and isinstance(child.ctx, ast.Store)):
                stack.append(child)
            elif isinstance(child, ast.comprehension):
                stack.extend([child.iter, *child.ifs])
            elif isinstance(child, ast.keyword):
                stack.append(child.value)
            elif isinstance(child, ast.arguments):
                stack.extend([*child.defaults, *[d for d in child.kw_defaults if d is not None]])


def _names(stmt: ast.stmt) -> set[str]:
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {stmt.name}
    if isinstance(stmt, ast.Assign):
        return {t.id for t in stmt.targets if isinstance(t, ast.Name)}
    if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
        return {stmt.target.id}
    return set()


def _short(text: str, limit: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def mutants_of(name: str, src_root: Path, strings: bool = False) -> list[Mutant]:
    path, _, include = MODULES[name]
    source = (src_root / path).read_bytes()
    found = _Generator(name, path, source, include, strings).run()
    good = []
    for m in found:
        try:
            compile(apply(source, m), path, "exec")
        except SyntaxError:
            continue
        good.append(m)
    return good


def apply(source: bytes, m: Mutant) -> bytes:
    return source[:m.start] + m.text.encode() + source[m.end:]


# ---- tracing (a pytest plugin: -p mutation with scripts/ on the path) --------------------------
_trace_files: set[str] = set()
_trace_now: dict[str, set[int]] | None = None
_trace_out: dict[str, dict] = {}


def _local_tracer(frame, event, arg):
    if event == "line" and _trace_now is not None:
        _trace_now.setdefault(frame.f_code.co_filename, set()).add(frame.f_lineno)
    return _local_tracer


def _global_tracer(frame, event, arg):
    if frame.f_code.co_filename in _trace_files:
        if _trace_now is not None:
            _trace_now.setdefault(frame.f_code.co_filename, set()).add(frame.f_lineno)
        return _local_tracer
    return None


def pytest_configure(config) -> None:
    files = os.environ.get("MUTATION_TRACE_FILES")
    if not files:
        return
    _trace_files.update(files.split(os.pathsep))
    sys.settrace(_global_tracer)
    threading.settrace(_global_tracer)


def _hookwrapper(fn):
    fn.hookwrapper = True  # pluggy's marker, without importing pytest into the runner
    return fn


@_hookwrapper
def pytest_runtest_protocol(item, nextitem):
    global _trace_now
    if not _trace_files:
        yield
        return
    _trace_now = {}
    started = time.monotonic()
    yield
    _trace_out[item.nodeid] = {"seconds": time.monotonic() - started,
                               "lines": {f: sorted(v) for f, v in _trace_now.items()}}
    _trace_now = None


def pytest_unconfigure(config) -> None:
    out = os.environ.get("MUTATION_TRACE_OUT")
    if out and _trace_files:
        sys.settrace(None)
        threading.settrace(None)
        Path(out).write_text(json.dumps(_trace_out))


# ---- the worker: forks one pytest per mutant --------------------------------------------------
class _MutantFinder:
    """Serves one module's (mutated) source from memory."""

    def __init__(self, fullname: str, path: str, source: bytes) -> None:
        self.fullname, self.path, self.source = fullname, path, source

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.fullname:
            return None
        import importlib.util

        return importlib.util.spec_from_file_location(fullname, self.path, loader=self,
                                                      submodule_search_locations=None)

    def create_module(self, spec):
        return None

    def exec_module(self, module) -> None:
        exec(compile(self.source, self.path, "exec"), module.__dict__)  # noqa: S102 - the mutant under test


def serve() -> None:
    """Read one JSON request a line, answer one JSON line. Each request runs pytest in a
    forked child whose only difference from the parent is the mutated module."""
    for name in PRELOAD:
        try:
            __import__(name)
        except Exception:  # noqa: BLE001, S110 - a preload is an optimisation; the child imports what it needs
            pass
    out = sys.stdout
    current = [0]

    def stop(signum, frame) -> None:  # the run was stopped: take the running child with us
        if current[0]:
            try:
                os.killpg(current[0], signal.SIGKILL)
            except ProcessLookupError:
                pass
        os._exit(1)

    signal.signal(signal.SIGTERM, stop)
    for line in sys.stdin:
        req = json.loads(line)
        started = time.monotonic()
        pid = os.fork()
        current[0] = pid
        if pid == 0:  # the child
            try:
                os.setpgid(0, 0)
                fd = os.open(req["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                os.dup2(fd, 1)
                os.dup2(fd, 2)
                if req.get("source") is not None:
                    sys.meta_path.insert(0, _MutantFinder(req["fullname"], req["path"], req["source"].encode()))
                import pytest

                rc = int(pytest.main(req["args"]))
            except BaseException:  # noqa: BLE001 - whatever happened, the child ends here
                import traceback

                traceback.print_exc()
                rc = 70
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(rc)
        deadline = started + req["timeout"]
        status = None
        while status is None:
            done, code = os.waitpid(pid, os.WNOHANG)
            if done:
                status = os.waitstatus_to_exitcode(code)
                break
            if time.monotonic() > deadline:
                try:
                    os.killpg(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                os.waitpid(pid, 0)
                status = "timeout"
                break
            time.sleep(0.02)
        out.write(json.dumps({"status": status, "seconds": time.monotonic() - started}) + "\n")
        out.flush()


class Worker:
    def __init__(self, index: int, work: Path, python: str) -> None:
        self.index, self.work = index, work
        self.var = work / f"var-w{index}"
        self.var.mkdir(parents=True, exist_ok=True)
        self.log = str(work / f"w{index}.log")
        self.basetemp = str(work / f"tmp-w{index}")
        env = _test_env(self.var, f"mutation-w{index}")
        env["PYTHONPATH"] = str(work / "src")
        self.proc = subprocess.Popen([python, str(work / "src" / "scripts" / "mutation.py"), "--serve"],  # noqa: S603
                                     cwd=work / "src", env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, bufsize=1)

    def run(self, tests: list[str], timeout: float, fullname: str | None = None, path: str | None = None,
            source: bytes | None = None) -> tuple[object, float, str]:
        argsfile = self.work / f"args-w{self.index}.txt"
        argsfile.write_text("\n".join(tests) + "\n")
        args = ["-x", "-q", "-p", "no:cacheprovider", "--reuse-db", f"--basetemp={self.basetemp}",
                "-o", "addopts=-rf --strict-markers", f"@{argsfile}"]
        req = {"args": args, "timeout": timeout, "log": self.log, "fullname": fullname, "path": path,
               "source": source.decode() if source is not None else None}
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        answer = json.loads(self.proc.stdout.readline())
        if answer["status"] == "timeout":
            self.forget_db()  # a killed child may have left rows behind in the reused database
        return answer["status"], answer["seconds"], _first_failure(self.log)

    def forget_db(self) -> None:
        for f in self.var.glob("test-*.sqlite3*"):
            f.unlink()


def _first_failure(log: str) -> str:
    try:
        text = Path(log).read_text(errors="replace")
    except OSError:
        return ""
    for line in text.splitlines():
        if line.startswith(("FAILED tests/", "ERROR tests/")):
            return line.split(" - ")[0].split(" ", 1)[1]
    return ""


def _test_env(var: Path, suffix: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("CUSTOS_TEST_SERVICES", "CUSTOS_DATABASE_URL", "CUSTOS_REDIS_URL", "CUSTOS_BROKER_URL")}
    env.update(CUSTOS_VAR_DIR=str(var), CUSTOS_TEST_DB_SUFFIX=suffix, PYTHONHASHSEED="0")
    return env


# ---- the run --------------------------------------------------------------------------------
def copy_tree(work: Path, without_mutation_tests: bool, ref: str | None) -> Path:
    """The private copy: the working tree as it is (others' unsaved edits included), or with
    `ref` a commit, for a run that names exactly what it measured."""
    src = work / "src"
    if ref:
        shutil.rmtree(src, ignore_errors=True)
        src.mkdir(parents=True)
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], check=True,  # noqa: S603, S607
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(src)], input=archive, check=True)  # noqa: S603, S607
        if without_mutation_tests:
            for f in (src / "tests").glob("test_mutation_*.py"):
                f.unlink()
        (src / "scripts").mkdir(exist_ok=True)
        shutil.copy2(Path(__file__), src / "scripts" / "mutation.py")  # the runner is this one, committed or not
        return src
    src.mkdir(parents=True, exist_ok=True)
    extra = ["--exclude", "tests/test_mutation_*.py"] if without_mutation_tests else []
    subprocess.run(["rsync", "-a", "--delete", "--delete-excluded", "--exclude", ".git", "--exclude", "var",  # noqa: S603, S607
                    "--exclude", ".venv", "--exclude", "__pycache__", "--exclude", "node_modules",
                    "--exclude", "bench/out", *extra, f"{ROOT}/", f"{src}/"], check=True)
    return src


def trace(src: Path, work: Path, python: str, names: list[str]) -> dict[str, dict]:
    test_files = sorted({t for n in names for t in MODULES[n][1] if (src / t).exists()})
    targets = [str(src / MODULES[n][0]) for n in names]
    digest = hashlib.sha256()
    for f in sorted(src.rglob("*.py")):
        if "scripts" not in f.parts:
            digest.update(str(f.relative_to(src)).encode() + f.read_bytes())
    digest.update(json.dumps([test_files, targets]).encode())
    cache = work / f"trace-{digest.hexdigest()[:16]}.json"
    if cache.exists():
        say(f"trace: reusing {cache.name}")
        return json.loads(cache.read_text())
    var = work / "var-trace"
    var.mkdir(exist_ok=True)
    env = _test_env(var, "mutation-trace")
    env.update(MUTATION_TRACE_FILES=os.pathsep.join(targets), MUTATION_TRACE_OUT=str(cache) + ".tmp",
               PYTHONPATH=str(src / "scripts"))
    say(f"trace: {len(test_files)} test files, once, to learn which test runs which line")
    started = time.monotonic()
    proc = subprocess.run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "mutation",  # noqa: S603
                           f"--basetemp={work / 'tmp-trace'}", *test_files], cwd=src, env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        say(proc.stdout[-4000:] + proc.stderr[-2000:])
        raise SystemExit("the baseline is red: the mapped tests fail without any mutant")
    say(f"trace: {proc.stdout.strip().splitlines()[-1]} ({time.monotonic() - started:.0f} s)")
    os.replace(str(cache) + ".tmp", cache)
    return json.loads(cache.read_text())


SLOWEST = 15.0  # seconds (traced): longer tests are left out, see --slowest


def tests_for(m: Mutant, src: Path, traced: dict[str, dict]) -> list[tuple[float, str]]:
    target = str(src / m.path)
    files = set(MODULES[m.module][1])
    chosen = []
    for nodeid, info in traced.items():
        if nodeid.split("::", 1)[0] not in files or info["seconds"] > SLOWEST:
            continue
        lines = info["lines"].get(target)
        if not lines:
            continue
        lo, hi = m.stmt_lines
        if m.module_level and m.uses:
            if any(ln in m.uses for ln in lines):
                chosen.append((info["seconds"], nodeid))
        elif m.module_level or any(lo <= ln <= hi for ln in lines):
            chosen.append((info["seconds"], nodeid))
    if not chosen and m.module_level and m.uses:  # its readers run at import only: every test
        m.uses = []
        return tests_for(m, src, traced)
    # the targeted unit tests first (fast, and most kills), then the rest, fastest first
    chosen.sort(key=lambda c: (not _targeted(c[1]), c[0]))
    return chosen


def _targeted(nodeid: str) -> bool:
    return nodeid.startswith("tests/test_mutation_")


def main() -> None:
    global SLOWEST
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", default="", help="comma-separated, of: " + ", ".join(MODULES))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "custos-mutation"),
                        help="the private copy and the runs' files")
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--list", action="store_true", help="only list the mutants")
    parser.add_argument("--sample", type=float, default=1.0,
                        help="run this fraction of the mutants (a fixed pseudo-random pick): an estimate, faster")
    parser.add_argument("--slowest", type=float, default=SLOWEST,
                        help="leave out tests slower than this many seconds (traced); they kill nothing here")
    parser.add_argument("--ref", help="mutate this commit (git archive) instead of the working tree")
    parser.add_argument("--strings", action="store_true",
                        help="also mutate short string literals (dict keys, reasons: mostly crashes or cosmetic)")
    parser.add_argument("--without-mutation-tests", action="store_true",
                        help="leave tests/test_mutation_*.py out (what the suite alone kills)")
    parser.add_argument("--report", default=str(ROOT / "var" / "mutation" / "report.md"))
    parser.add_argument("--merge", nargs="+", metavar="MUTANTS_JSON",
                        help="no run: one report from earlier runs' mutants.json files")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve()
        return
    if args.merge:  # one report from the mutants.json of earlier runs, judged by today's EQUIVALENT
        mutants = []
        for f in args.merge:
            for d in json.loads(Path(f).read_text()):
                m = Mutant(**d)
                if m.status == "equivalent":
                    m.status = m.note or "survived"
                m.equivalent = EQUIVALENT.get((m.path, m.scope, m.op, m.before, m.after), "")
                mutants.append(m)
        names = [n for n in MODULES if any(m.module == n for m in mutants)]
        report(mutants, names, sum(m.seconds for m in mutants), Path(args.report))
        return
    names = [n.strip() for n in args.modules.split(",") if n.strip()] or list(MODULES)
    unknown = [n for n in names if n not in MODULES]
    if unknown:
        raise SystemExit(f"unknown module(s) {unknown}; choose from {', '.join(MODULES)}")
    work = Path(args.work)
    started = time.monotonic()
    src = copy_tree(work, args.without_mutation_tests, args.ref)
    mutants = [m for n in names for m in mutants_of(n, src, args.strings)]
    for m in mutants:
        m.equivalent = EQUIVALENT.get((m.path, m.scope, m.op, m.before, m.after), "")
    if args.sample < 1:
        import random

        pick = random.Random(14)  # the same sample every time  # noqa: S311 - not for security
        mutants = [m for m in mutants if pick.random() < args.sample]
    if args.list:
        for m in mutants:
            say(f"{m.path}:{m.line} ({m.scope or 'module'}): {m.op}: {m.before} -> {m.after}"
                + (f"  [equivalent: {m.equivalent}]" if m.equivalent else ""))
        say(f"{len(mutants)} mutants")
        return
    traced = trace(src, work, args.python, names)
    SLOWEST = args.slowest
    slow = sorted(nid for nid, info in traced.items() if info["seconds"] > SLOWEST)
    if slow:  # each survivor would wait for them: a TOTP step, a random equivalence sweep
        say(f"left out, slower than {SLOWEST:g} s traced: {', '.join(slow)}")
    sources = {n: (src / MODULES[n][0]).read_bytes() for n in names}
    queue = list(mutants)
    lock = threading.Lock()
    done = [0]

    def drain(worker: Worker) -> None:
        while True:
            with lock:
                if not queue:
                    return
                m = queue.pop(0)
            chosen = tests_for(m, src, traced)
            m.tests = len(chosen)
            if not chosen:
                m.status = "no test"
            else:
                budget = sum(s for s, _ in chosen)
                timeout = max(30.0, 20.0 + 3 * budget)
                fullname = m.path[:-3].replace("/", ".")
                status, m.seconds, m.killer = worker.run([t for _, t in chosen], timeout, fullname,
                                                         str(src / m.path), apply(sources[m.module], m))
                if status == "timeout":
                    m.status = "timeout"
                elif status == 0:
                    m.status = "survived"
                elif status in (1, 2, 3) or (isinstance(status, int) and status < 0):
                    m.status = "killed"
                else:
                    m.status = "error"
                    m.note = f"pytest exit {status}"
            with lock:
                done[0] += 1
                if m.status in ("survived", "error", "no test"):
                    say(f"  [{done[0]}/{len(mutants)}] {m.status.upper()} {m.path}:{m.line} {m.op}: "
                        f"{m.before} -> {m.after}")
                elif done[0] % 25 == 0:
                    say(f"  [{done[0]}/{len(mutants)}] …")

    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))  # run the cleanup below
    workers = [Worker(i, work, args.python) for i in range(max(1, args.workers))]
    try:
        run_all(workers, names, src, traced, drain, len(mutants))
    finally:
        for w in workers:
            w.proc.terminate()
    elapsed = time.monotonic() - started
    report(mutants, names, elapsed, Path(args.report))


def run_all(workers, names, src, traced, drain, count) -> None:
    say(f"{count} mutants over {len(names)} module(s), {len(workers)} worker(s)")
    # one clean, unmutated run of every selected test through the same path first
    chosen = sorted({(i["seconds"], nid) for nid, i in traced.items() if i["seconds"] <= SLOWEST
                     and any(nid.split("::", 1)[0] in MODULES[n][1] and i["lines"].get(str(src / MODULES[n][0]))
                             for n in names)})
    missing = [n for n in names if not any(i["lines"].get(str(src / MODULES[n][0])) for i in traced.values())]
    if missing:
        raise SystemExit(f"no mapped test executes {missing}")
    status, secs, failed = workers[0].run([t for _, t in chosen], 900, None, None, None)
    if status != 0:
        raise SystemExit(f"the unmutated tests fail through the runner ({status}, {failed}); see {workers[0].log}")
    say(f"baseline through the runner: {len(chosen)} tests green ({secs:.0f} s)")
    threads = [threading.Thread(target=drain, args=(w,), daemon=True) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        while t.is_alive():
            t.join(1)


def report(mutants: list[Mutant], names: list[str], elapsed: float, path: Path) -> None:
    """Per module: the counts and the survivors; `killed` counts the timeouts too. A survivor
    listed in EQUIVALENT is reported as equivalent, and the second rate leaves those out."""
    for m in mutants:
        if m.status in ("survived", "no test") and m.equivalent:
            m.status, m.note = "equivalent", m.status
    lines = [f"# Mutation run ({time.strftime('%Y-%m-%d %H:%M')}, {elapsed / 60:.1f} min)", "",
             "A timeout counts as killed. `no test`: no mapped test executes the line. `equivalent`: a survivor",
             "no test can tell from the original (scripts/mutation.py, EQUIVALENT, says why).", "",
             "| module | mutants | killed | timed out | survived | no test | equivalent | errors | kill rate | "
             "without equivalents |", "|---|---|---|---|---|---|---|---|---|---|"]
    statuses = ("killed", "timeout", "survived", "no test", "equivalent", "error")
    total = dict.fromkeys(statuses, 0)
    rows = []

    def rates(c: dict[str, int], n: int) -> tuple[float, float]:
        dead = c["killed"] + c["timeout"]
        return (dead / n * 100 if n else 100.0,
                dead / (n - c["equivalent"]) * 100 if n - c["equivalent"] else 100.0)

    for n in names:
        ms = [m for m in mutants if m.module == n]
        c = {s: sum(1 for m in ms if m.status == s) for s in statuses}
        for s in statuses:
            total[s] += c[s]
        raw, net = rates(c, len(ms))
        rows.append((n, ms, c, raw, net))
        lines.append(f"| {n} (`{MODULES[n][0]}`) | {len(ms)} | {c['killed'] + c['timeout']} | {c['timeout']} | "
                     f"{c['survived']} | {c['no test']} | {c['equivalent']} | {c['error']} | {raw:.1f}% | {net:.1f}% |")
    count = sum(len(r[1]) for r in rows)
    raw, net = rates(total, count)
    lines.append(f"| **all** | {count} | {total['killed'] + total['timeout']} | {total['timeout']} | "
                 f"{total['survived']} | {total['no test']} | {total['equivalent']} | {total['error']} | "
                 f"**{raw:.1f}%** | **{net:.1f}%** |")
    lines += ["", "## Survivors", ""]
    equivalents = ["", "## Equivalent", ""]
    say("")
    for n, ms, c, r, e in rows:
        say(f"{n:16} {len(ms):4} mutants  killed {c['killed'] + c['timeout']:4} (timed out {c['timeout']})  "
            f"survived {c['survived']:3}  no test {c['no test']:2}  equivalent {c['equivalent']:2}  "
            f"errors {c['error']:2}  {r:5.1f}% ({e:5.1f}% without equivalents)")
        for m in ms:
            text = f"{m.path}:{m.line} ({m.scope or 'module'}) {m.op}: `{m.before}` -> `{m.after}`"
            if m.status in ("survived", "no test", "error"):
                text += f" ({m.status}{', ' + m.note if m.note else ''})" if m.status != "survived" else ""
                say(f"    {text}")
                lines.append(f"- {text}")
            elif m.status == "equivalent":
                equivalents.append(f"- {text}: {m.equivalent}")
    say(f"\nkill rate {raw:.1f}% ({total['killed'] + total['timeout']} of {count}, {total['timeout']} by "
        f"timeout), {net:.1f}% without the {total['equivalent']} equivalent; {elapsed / 60:.1f} min")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines + equivalents) + "\n")
    (path.parent / "mutants.json").write_text(json.dumps([asdict(m) for m in mutants], indent=1))
    say(f"report: {path}")


if __name__ == "__main__":
    main()
