"""MySQL/MariaDB with query metrics (see custos.db)."""
from typing import Any

from django.db.backends.mysql import base

from custos.db import CountingWrapperMixin


class DatabaseWrapper(CountingWrapperMixin, base.DatabaseWrapper):
    CURSOR_CLASS = base.CursorWrapper

    def _counting_cursor(self, cls: type) -> Any:
        return cls(self.connection.cursor())
