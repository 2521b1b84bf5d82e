"""A throwaway PostgreSQL server for the tests: Debian's binaries (`make postgres`, in `make
test`, installs them), a cluster made by ``initdb`` in a temporary folder and started by
``pg_ctl`` on a free port of 127.0.0.1, with password authentication over TCP; stopped and
removed at the end. As root the server runs as the ``postgres`` user (initdb refuses root).
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg

from tests.helpers.support import free_port

ROOT_BIN = Path("/usr/lib/postgresql")
#: the cluster's superuser, who owns every test database
USER = "explainer"
#: throwaway data: no need to survive a power cut
FAST = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"


def _bindir() -> Path:
    found = sorted(ROOT_BIN.glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name))
    if not found:
        raise RuntimeError(
            f"PostgreSQL's server is not installed (no {ROOT_BIN}/*/bin/pg_ctl): "
            "`make postgres` (in `make test`) installs Debian's postgresql package"
        )
    return found[-1].parent


class Cluster:
    """A running server. ``password_file`` holds the password (its first line); URLs carry
    none."""

    def __init__(self, log: Path) -> None:
        self.bindir = _bindir()
        self.root = Path(tempfile.mkdtemp(prefix="explainer-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.password = secrets.token_urlsafe(18)
        self.password_file = self.root / "password"
        self.password_file.write_text(self.password + "\n")
        self.log = log
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        try:
            self._start()
        except BaseException:
            shutil.rmtree(self.root, ignore_errors=True)
            raise

    def _start(self) -> None:
        if self._as:  # the server's files belong to its user
            for path in (self.root, self.password_file):
                shutil.chown(path, "postgres", "postgres")
        self._run(
            "initdb",
            "--pgdata",
            str(self.data),
            "--username",
            USER,
            "--pwfile",
            str(self.password_file),
            "--auth-host=scram-sha-256",
            "--auth-local=peer",
            "--encoding=UTF8",
            "--no-sync",
        )
        self.resume()

    def resume(self) -> None:
        """Start the server on its data (after ``pause``)."""
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} {FAST}"
        self._run(
            "pg_ctl", "--pgdata", str(self.data), "--log", str(self.root / "server.log"),
            "--wait", "--timeout", "300", "-o", options, "start",
        )  # fmt: skip

    def pause(self) -> None:
        """Stop the server (fast: open connections are cut), keeping its data."""
        self._run("pg_ctl", "--pgdata", str(self.data), "--mode", "fast", "--wait", "stop")

    def _run(self, program: str, *args: str) -> None:
        done = subprocess.run(
            [*self._as, str(self.bindir / program), *args],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{program} failed ({done.returncode}): {done.stderr[-2000:]}")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(self.url(database), password=self.password, autocommit=True)

    def create_database(self) -> str:
        """A new, empty database; answers its name."""
        name = f"test_{secrets.token_hex(6)}"
        with self.connect() as db:
            db.execute(f'CREATE DATABASE "{name}"')
        return name

    def restart(self) -> None:
        """Restart the server (fast: open connections are cut)."""
        self._run(
            "pg_ctl", "--pgdata", str(self.data), "--log", str(self.root / "server.log"),
            "--mode", "fast", "--wait", "--timeout", "300", "restart",
        )  # fmt: skip

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "--pgdata", str(self.data), "--mode", "fast", "--wait", "stop")
        finally:
            server_log = self.root / "server.log"
            if server_log.exists():
                shutil.copyfile(server_log, self.log)
            shutil.rmtree(self.root, ignore_errors=True)
