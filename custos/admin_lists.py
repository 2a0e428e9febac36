"""Console lists that stay fast at a million rows (the users list, the audit list): no COUNT(*)
for the paginator, no facet counts, "previous / next" instead of numbered pages."""
from __future__ import annotations

from django.contrib import admin
from django.core.paginator import Page, Paginator


class NoCountPaginator(Paginator):
    """Django's changelist asks its paginator for `count`, a COUNT(*) over every matching row: at a
    million users, the slowest statement of the page. This one reads the page asked for plus one
    row and knows only whether a next page exists, so the list shows "previous / next" and no
    total. `count` is what the changelist needs to take the paginated path: the rows up to the end
    of this page, plus one when there is more."""

    def __init__(self, object_list, per_page, page_number: int = 1, **kwargs) -> None:
        super().__init__(object_list, per_page, **kwargs)
        self.page_number = max(1, page_number)
        self._rows: list | None = None

    def _fetch(self) -> list:
        if self._rows is None:
            bottom = (self.page_number - 1) * self.per_page
            self._rows = list(self.object_list[bottom:bottom + self.per_page + 1])
        return self._rows

    @property
    def has_next(self) -> bool:
        return len(self._fetch()) > self.per_page

    @property
    def count(self) -> int:  # type: ignore[override]
        return (self.page_number - 1) * self.per_page + len(self._fetch())

    def page(self, number) -> Page:
        number = self.validate_number(number)
        if number != self.page_number:  # the changelist only asks for the page it was built for
            self.page_number, self._rows = number, None
        return Page(self._fetch()[:self.per_page], number, self)


def page_number(request) -> int:
    from django.contrib.admin.views.main import PAGE_VAR

    raw = request.GET.get(PAGE_VAR, "1")
    # the changelist treats a page past the end (or garbage) as an invalid page: a 200 with a
    # message, never a 500; cap what a hand-written URL can ask the database to skip
    return int(raw) if raw.isdigit() and 0 < int(raw) <= 10_000 else 1




class NoCountListMixin:
    """For a ModelAdmin whose list may hold millions of rows; its template's pagination block
    renders `cl.prev_url` / `cl.next_url` (templates/admin/custos_nocount_pagination.html)."""

    show_full_result_count = False  # no COUNT(*) over every row on every page
    show_facets = admin.ShowFacets.NEVER  # nor one per filter choice
    list_max_show_all = 0  # "show all" would be every matching row at once
    paginator = NoCountPaginator

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        return NoCountPaginator(queryset, per_page, page_number=page_number(request), orphans=0,
                                allow_empty_first_page=allow_empty_first_page)

    def get_changelist_instance(self, request):
        from django.contrib.admin.views.main import PAGE_VAR

        cl = super().get_changelist_instance(request)
        # "previous / next" instead of numbered pages: the paginator knows no total
        cl.prev_url = cl.get_query_string({PAGE_VAR: cl.page_num - 1}) if cl.page_num > 1 else ""
        cl.next_url = cl.get_query_string({PAGE_VAR: cl.page_num + 1}) if cl.paginator.has_next else ""
        return cl
