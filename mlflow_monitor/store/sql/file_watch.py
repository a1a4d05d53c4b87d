"""SqliteFile: notices when the SQLite file of a store is deleted or replaced while in use.

SQLite keeps writing through the connections it has open to a file that was deleted (or
renamed over): the writes succeed, into an inode no path leads to any more, and are lost when
the process ends. :class:`SqliteFile` remembers the file's device and inode when the store
opens it, and :meth:`~SqliteFile.problem` compares them with what the path holds now (one
``stat`` call), so the writer can refuse to write into a lost file and count the rows it drops,
and ``/health`` and the metrics can say so.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import Engine

__all__ = ["SqliteFile"]


class SqliteFile:
    """The identity of a SQLite database file, checked against its path.

    Args:
        path: the database file (it exists: the store has created its schema).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        stat = path.stat()
        self._identity = (stat.st_dev, stat.st_ino)

    @classmethod
    def of(cls, engine: Engine) -> SqliteFile | None:
        """The file behind a SQLite engine; None for other databases (and a missing file)."""
        if engine.url.get_backend_name() != "sqlite" or not engine.url.database:
            return None
        try:
            return cls(Path(engine.url.database).expanduser())
        except OSError:
            return None

    def problem(self) -> str | None:
        """Why the file the store opened is no longer at its path, or None while it is."""
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return f"the SQLite file {str(self.path)!r} was deleted while in use"
        except OSError as exc:
            return f"the SQLite file {str(self.path)!r} cannot be checked: {exc.strerror}"
        if (stat.st_dev, stat.st_ino) != self._identity:
            return f"the SQLite file {str(self.path)!r} was replaced by another file while in use"
        return None
