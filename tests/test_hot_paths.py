"""config/hot.py is the one list of lean paths: what it says is what is served."""
from __future__ import annotations

from django.urls import resolve, reverse

from config import hot


def test_every_lean_route_is_served_by_its_view_first():
    for lean in hot.ROUTES:
        assert reverse(lean.name) == f"/{lean.route}"
        match = resolve(f"/{lean.route}")
        assert match.func is lean.view and match.url_name == lean.name
        assert lean.why and lean.fallback


def test_the_list_states_the_methods_each_lean_view_serves():
    for lean in hot.ROUTES:
        assert getattr(lean.view, "lean_methods", ("GET",)) == lean.methods, lean.route
