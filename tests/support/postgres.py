"""A private, throwaway PostgreSQL cluster for tests that need a real PostgreSQL.

It runs Debian's server binaries (``/usr/lib/postgresql/<version>/bin``) on 127.0.0.1 on a port
of its own, with its data directory and Unix socket in a temporary directory and ``trust``
authentication, so it touches no system cluster. PostgreSQL refuses to run as root: as root the
binaries run as the ``postgres`` OS user. The cluster can be stopped (cleanly or as a crash) and
started again on the same port with its data intact, to test a database that goes away while
the application keeps serving.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Self

from tests.support.ports import free_port

__all__ = ["PostgresServer", "find_bin_dir"]

_OS_USER = "postgres"


def find_bin_dir() -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` holding ``initdb`` and ``pg_ctl``."""
    found = [
        Path(path).parent
        for path in glob.glob("/usr/lib/postgresql/*/bin/initdb")
        if os.access(Path(path).parent / "pg_ctl", os.X_OK)
    ]
    found.sort(key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    return found[-1] if found else None


class PostgresServer:
    """Initialise, start, stop and restart a PostgreSQL cluster on one port.

    Args:
        bin_dir: directory of ``initdb`` and ``pg_ctl``.
        port: port on 127.0.0.1 (default: a free one, kept across restarts).
        startup_timeout: seconds ``pg_ctl`` waits for the server to accept connections.
        fsync: whether commits wait for the disk; off by default (throwaway data, and a
            shared small machine), on for benchmarks.

    Raises:
        RuntimeError: running as root and there is no ``postgres`` OS user to run as.
    """

    def __init__(
        self,
        bin_dir: Path,
        port: int | None = None,
        startup_timeout: int = 60,
        *,
        fsync: bool = False,
    ) -> None:
        self.bin_dir = Path(bin_dir)
        self.fsync = fsync
        self.port = port or free_port()
        self.startup_timeout = startup_timeout
        self._as_root = os.geteuid() == 0
        if self._as_root:
            try:
                owner = pwd.getpwnam(_OS_USER)
            except KeyError as exc:
                raise RuntimeError(
                    f"running as root, and there is no {_OS_USER!r} OS user to run PostgreSQL as"
                ) from exc
        # Not under pytest's basetemp: that directory is private to root, and the server,
        # running as another user, must reach its data directory.
        self.root = Path(tempfile.mkdtemp(prefix="mlflow-monitor-pg-"))
        self.data_dir = self.root / "data"
        self.socket_dir = self.root / "socket"
        self.log_file = self.root / "server.log"
        self.socket_dir.mkdir()
        if self._as_root:
            for path in (self.root, self.socket_dir):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        self._initialised = False

    def url(self, database: str = "postgres", driver: str = "postgresql+psycopg") -> str:
        """SQLAlchemy URL of a database on this server (user ``postgres``, no password)."""
        return f"{driver}://postgres@127.0.0.1:{self.port}/{database}"

    def dsn(self, database: str = "postgres") -> str:
        """libpq connection string of a database on this server."""
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={database}"

    @property
    def running(self) -> bool:
        """Whether the server answers ``pg_ctl status``."""
        if not self._initialised or not self.data_dir.is_dir():
            return False
        status = self._run("pg_ctl", "status", "-D", str(self.data_dir), check=False)
        return status.returncode == 0

    def start(self) -> Self:
        """Initialise the cluster on first start, then start it and wait until it accepts
        connections.

        Raises:
            RuntimeError: ``initdb`` or ``pg_ctl start`` failed (the message holds its log).
        """
        if not self._initialised:
            self._run(
                "initdb",
                "--pgdata",
                str(self.data_dir),
                "--username",
                "postgres",
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--no-sync",  # throwaway data: no need to wait for the disk
            )
            self._initialised = True
        if self.running:
            return self
        options = " ".join(
            [
                f"-p {self.port}",
                "-c listen_addresses=127.0.0.1",
                f"-c unix_socket_directories={self.socket_dir}",
                f"-c fsync={'on' if self.fsync else 'off'}",
                "-c max_connections=200",
            ]
        )
        self._run(
            "pg_ctl",
            "start",
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log_file),
            "-o",
            options,
            "-w",
            "-t",
            str(self.startup_timeout),
        )
        return self

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: ``"fast"`` (disconnect clients, shut down cleanly) or
        ``"immediate"`` (like a crash: recovery runs at the next start)."""
        if self.running:
            self._run("pg_ctl", "stop", "-D", str(self.data_dir), "-m", mode, "-w")

    def restart(self) -> Self:
        self.stop()
        return self.start()

    def create_database(self, name: str | None = None) -> str:
        """Create a fresh database and return its SQLAlchemy URL."""
        import psycopg

        name = name or f"test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, closing whatever connections it still has."""
        import psycopg

        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def cleanup(self) -> None:
        """Stop the server (if running) and delete its data directory."""
        try:
            self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
            self._initialised = False

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.cleanup()

    def log(self, tail: int = 4000) -> str:
        """The end of the server log."""
        try:
            return self.log_file.read_text(errors="replace")[-tail:]
        except OSError:
            return ""

    def _run(
        self, program: str, *args: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin_dir / program), *args]
        if self._as_root:
            command = ["runuser", "-u", _OS_USER, "--", *command]
        done = subprocess.run(
            command,
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=self.startup_timeout + 30,
            check=False,
        )
        if check and done.returncode != 0:
            raise RuntimeError(
                f"{program} {' '.join(args[:1])} failed with code {done.returncode}: "
                f"{done.stdout}{done.stderr}\nserver log:\n{self.log()}"
            )
        return done
