"""A throwaway PostgreSQL server for tests: ``initdb`` + ``pg_ctl`` in a temporary directory.

It listens on a free 127.0.0.1 port with password (scram-sha-256) authentication, keeps its unix
socket in its own directory, runs with ``fsync=off``, and is stopped and deleted at the end.

PostgreSQL refuses to run as root, and CI runs the tests as root: then the server runs as the
``postgres`` OS user (the Debian packages create it), in a temporary directory that user owns.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

SUPERUSER = "postgres"
# Passwords and names the tests use; plain characters, so URLs need no escaping.
SUPERUSER_PASSWORD = "admin-secret-pw"
APP_USER = "storybot"
APP_PASSWORD = "s3cret-app-pw"
START_TIMEOUT_S = 60
START_ATTEMPTS = 3  # a free port can be taken by someone else before the server binds it
RUN_AS_WHEN_ROOT = "postgres"
DEBIAN_ROOT = Path("/usr/lib/postgresql")


class PostgresUnavailable(Exception):
    """PostgreSQL is not installed here (binaries, service account or psycopg missing): tests skip."""


class PostgresStartError(RuntimeError):
    """PostgreSQL is installed but failed: tests error out rather than silently skip."""


def find_bin_dir(debian_root: Path = DEBIAN_ROOT) -> Path:
    """The directory holding ``initdb`` and ``pg_ctl``: from PATH (symlinks followed), else the newest
    Debian/Ubuntu ``/usr/lib/postgresql/<version>/bin``."""
    on_path = shutil.which("initdb")
    candidates = [Path(on_path).resolve().parent] if on_path else []
    candidates += sorted(debian_root.glob("*/bin"), key=_version, reverse=True)
    for directory in candidates:
        if (directory / "initdb").exists() and (directory / "pg_ctl").exists():
            return directory
    raise PostgresUnavailable(f"PostgreSQL binaries (initdb, pg_ctl) not found on PATH or in {debian_root}")


def _version(bin_dir: Path) -> int:
    digits = re.match(r"\d+", bin_dir.parent.name)
    return int(digits.group()) if digits else 0


def service_account() -> pwd.struct_passwd | None:
    """Who the server runs as: None for the current user, or the ``postgres`` account when root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(RUN_AS_WHEN_ROOT)
    except KeyError:
        raise PostgresUnavailable(
            f"running as root and there is no {RUN_AS_WHEN_ROOT!r} OS user to run PostgreSQL as"
        ) from None


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class PostgresServer:
    """One server: its directory, port and the account it runs as."""

    bin_dir: Path
    root: Path
    account: pwd.struct_passwd | None
    port: int = 0
    running: bool = field(default=False, init=False)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_path(self) -> Path:
        return self.root / "server.log"

    def url(self, database: str, user: str = APP_USER, password: str = APP_PASSWORD) -> str:
        """A URL in the form operators write it (no driver name)."""
        return f"postgresql://{user}:{password}@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run a PostgreSQL tool as the server's account, failing with its output."""
        user = None if self.account is None else self.account.pw_uid
        group = None if self.account is None else self.account.pw_gid
        extra_groups: list[int] | None = None if self.account is None else []
        env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
        env["LC_ALL"] = "C"
        result = subprocess.run(
            [str(self.bin_dir / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            env=env,
            cwd=self.root,
            user=user,
            group=group,
            extra_groups=extra_groups,
            check=False,
        )
        if result.returncode != 0:
            raise PostgresStartError(f"{args[0]} failed ({result.returncode}): {result.stdout}{result.stderr}")
        return result

    def init(self) -> None:
        """Create the cluster: superuser with a password, scram for TCP, trust on the private socket."""
        password_file = self.root / "superuser-password"
        password_file.write_text(SUPERUSER_PASSWORD + "\n")
        self._own(password_file)
        try:
            self._run(
                "initdb",
                "--pgdata",
                str(self.data_dir),
                "--username",
                SUPERUSER,
                "--pwfile",
                str(password_file),
                "--auth-host",
                "scram-sha-256",
                "--auth-local",
                "trust",
                "--encoding",
                "UTF8",
                "--locale",
                "C",
                "--no-sync",
            )
        finally:
            password_file.unlink()

    def start(self) -> None:
        """Start on a free port, retrying with another port if that one was taken meanwhile."""
        for attempt in range(1, START_ATTEMPTS + 1):
            self.port = free_port()
            try:
                self._start_on_port()
                return
            except PostgresStartError:
                if attempt == START_ATTEMPTS:
                    raise

    def _start_on_port(self) -> None:
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off -c max_connections=200"
        try:
            self._run(
                "pg_ctl", "--pgdata", str(self.data_dir), "--log", str(self.log_path), "--wait",
                "--timeout", str(START_TIMEOUT_S), "--options", options, "start",
            )  # fmt: skip
        except PostgresStartError as error:
            raise PostgresStartError(f"{error}\n{self.log_tail()}") from None
        self.running = True

    def stop(self) -> None:
        if self.running:
            self._run("pg_ctl", "--pgdata", str(self.data_dir), "--mode", "immediate", "--wait", "stop")
            self.running = False

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-2000:] if self.log_path.exists() else ""

    def _own(self, path: Path) -> None:
        if self.account is not None:
            os.chown(path, self.account.pw_uid, self.account.pw_gid)

    # Administration, over TCP as the superuser ---------------------------------------------------

    def admin_execute(self, *statements: str, database: str = "postgres") -> None:
        """Run statements as the superuser outside a transaction (CREATE DATABASE needs that)."""
        import psycopg

        conninfo = f"host=127.0.0.1 port={self.port} user={SUPERUSER} password={SUPERUSER_PASSWORD} dbname={database}"
        with psycopg.connect(conninfo, autocommit=True) as connection:
            for statement in statements:
                connection.execute(statement.encode())

    def create_app_user(self) -> None:
        self.admin_execute(f"CREATE ROLE {APP_USER} LOGIN PASSWORD '{APP_PASSWORD}'")

    def create_database(self) -> str:
        """A fresh, empty database owned by the application user; returns its name."""
        name = f"test_{uuid.uuid4().hex[:16]}"
        self.admin_execute(f"CREATE DATABASE {name} OWNER {APP_USER}")
        return name

    def drop_database(self, name: str) -> None:
        self.admin_execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _private_root(account: pwd.struct_passwd | None) -> Path:
    """A temp dir the server's account owns, outside pytest's root-only tmp directories."""
    root = Path(tempfile.mkdtemp(prefix="storybot-pg-"))
    if account is not None:
        os.chown(root, account.pw_uid, account.pw_gid)
    return root


@contextlib.contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """Start a server with an application role; stop and delete it afterwards.

    Raises PostgresUnavailable when the binaries, the service account or psycopg are missing, and
    PostgresStartError when they are there but the server does not start.
    """
    try:
        import psycopg  # noqa: F401  (the admin connection needs it)
    except ImportError:
        raise PostgresUnavailable("psycopg is not installed: pip install -e '.[postgres]'") from None
    bin_dir, account = find_bin_dir(), service_account()
    server = PostgresServer(bin_dir=bin_dir, root=_private_root(account), account=account)
    try:
        server.init()
        server.start()
        server.create_app_user()
        yield server
    finally:
        try:
            server.stop()
        finally:
            shutil.rmtree(server.root, ignore_errors=True)
