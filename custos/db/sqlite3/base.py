"""SQLite with query metrics (see custos.db)."""
from typing import Any

from django.db.backends.sqlite3 import base

from custos.db import CountingWrapperMixin


class DatabaseWrapper(CountingWrapperMixin, base.DatabaseWrapper):
    CURSOR_CLASS = base.SQLiteCursorWrapper

    def _counting_cursor(self, cls: type) -> Any:
        return self.connection.cursor(factory=cls)
