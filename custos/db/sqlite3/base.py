"""SQLite with query metrics (see custos.db)."""
from typing import Any

from django.db.backends.sqlite3 import base

from django_prometheus.db.common import DatabaseWrapperMixin

from custos.db import counting_cursor_class


class DatabaseWrapper(DatabaseWrapperMixin, base.DatabaseWrapper):
    CURSOR_CLASS = base.SQLiteCursorWrapper

    def create_cursor(self, name: Any = None) -> Any:  # connections counted by the mixin, statements here
        cls = counting_cursor_class(self.CURSOR_CLASS, self.alias, self.vendor)
        return self.connection.cursor(factory=cls)
