"""The real servers the scale-out parts run against, started on 127.0.0.1 for tests and trials.

- `Postgres`: a private PostgreSQL cluster (Debian's `postgresql` package: `initdb`, `pg_ctl`)
  in a folder of ours, trust authentication on a loopback port; as root the server runs as the
  `postgres` user (PostgreSQL refuses root).
- `MlflowServer`: `mlflow server` backed by a PostgreSQL database with proxied artifacts
  (`--artifacts-destination`), as a team would run it.
- `DaskCluster`: `dask scheduler` and `dask worker` processes (single-threaded workers).

`python -m tradelab.testing.services start --dir .services [--mlflow] [--dask]` starts them and
writes `.services/env` (shell `export` lines: `TRADELAB_TEST_POSTGRES`, `..._MLFLOW_SERVER`,
`..._DASK_SCHEDULER`), which the tests read; `stop --dir .services` stops all of them. `.ci/run`
does exactly that around `make test`; `make server` starts one for trying `tracking=server`.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "DaskCluster",
    "MlflowServer",
    "Postgres",
    "ServiceError",
    "create_database",
    "free_port",
]

HOST = "127.0.0.1"
ENV_POSTGRES = "TRADELAB_TEST_POSTGRES"
ENV_MLFLOW = "TRADELAB_TEST_MLFLOW_SERVER"
ENV_DASK = "TRADELAB_TEST_DASK_SCHEDULER"


class ServiceError(RuntimeError):
    """A service could not be started (the message says which and what to install)."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _wait(ready: object, what: str, timeout_s: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise ServiceError(f"{what} exited with code {proc.returncode} while starting")
        with contextlib.suppress(OSError, ValueError):
            if ready():  # type: ignore[operator]
                return
        time.sleep(0.2)
    raise ServiceError(f"{what} did not start within {timeout_s:.0f} s")


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((HOST, port)) == 0


def _pg_bindir() -> Path:
    """The folder of `initdb` and `pg_ctl` (Debian keeps them off PATH)."""
    found = shutil.which("pg_config")
    if found:
        out = subprocess.run([found, "--bindir"], capture_output=True, text=True, check=False)
        if out.returncode == 0 and (Path(out.stdout.strip()) / "initdb").exists():
            return Path(out.stdout.strip())
    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if debian:
        return Path(debian[-1]).parent
    if shutil.which("initdb"):
        return Path(shutil.which("initdb")).parent  # type: ignore[arg-type]
    raise ServiceError(
        "PostgreSQL is not installed (no initdb): apt-get install postgresql, or set "
        f"{ENV_POSTGRES}=postgresql://user@host:port to use a running server"
    )


def create_database(server_url: str, name: str, *, exist_ok: bool = False) -> str:
    """Create database `name` on the server of `server_url` (a URL without a database works;
    `exist_ok`: keep one that exists); return the URL of the database."""
    import psycopg2
    from sqlalchemy.engine import make_url

    url = make_url(server_url)
    conn = psycopg2.connect(
        host=url.host, port=url.port, user=url.username, password=url.password, dbname="postgres"
    )
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone() is None or not exist_ok:
                cur.execute(f'CREATE DATABASE "{name}"')
    finally:
        conn.close()
    return url.set(drivername="postgresql+psycopg2", database=name).render_as_string(
        hide_password=False
    )


@dataclass
class Postgres:
    """A PostgreSQL cluster in `root/data`, listening on 127.0.0.1:`port` only."""

    root: Path
    port: int = 0
    user: str = "postgres"
    _scratch: bool = field(default=False, repr=False)  # root is a folder of our own making

    def __post_init__(self) -> None:
        self.root = Path(self.root).resolve()
        self.port = self.port or free_port()
        if os.geteuid() == 0 and not self._reachable(self.root.parent):
            # as root the server runs as `postgres`, who cannot enter e.g. pytest's 0700 folders
            self.root = Path(tempfile.mkdtemp(prefix="tradelab-postgres-"))
            self._scratch = True

    @staticmethod
    def _reachable(folder: Path) -> bool:
        probe = ["runuser", "-u", "postgres", "--", "test", "-x", str(folder)]
        return subprocess.run(probe, capture_output=True, check=False).returncode == 0

    @property
    def url(self) -> str:
        """The server's URL (no database): give it to `create_database`."""
        return f"postgresql+psycopg2://{self.user}@{HOST}:{self.port}"

    def _as_owner(self, argv: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return argv
        return ["runuser", "-u", "postgres", "--", *argv]

    def start(self, timeout_s: float = 60.0) -> Postgres:
        bindir = _pg_bindir()
        data = self.root / "data"
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
        if not (data / "PG_VERSION").exists():
            init = [str(bindir / "initdb"), "-D", str(data), "-U", self.user, "--auth=trust"]
            done = subprocess.run(
                self._as_owner([*init, "-E", "UTF8", "--no-locale"]),
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                raise ServiceError(f"initdb failed in {data}: {done.stderr.strip()[-1000:]}")
        opts = f"-h {HOST} -p {self.port} -k {self.root} -c fsync=off -c max_connections=200"
        run = subprocess.run(
            self._as_owner(
                [
                    str(bindir / "pg_ctl"),
                    "-D",
                    str(data),
                    "-o",
                    opts,
                    "-l",
                    str(self.root / "postgres.log"),
                    "-w",
                    "-t",
                    str(int(timeout_s)),
                    "start",
                ]
            ),
            capture_output=True,
            text=True,
            check=False,
        )
        if run.returncode != 0:
            log_file = self.root / "postgres.log"
            log = log_file.read_text(errors="replace")[-2000:] if log_file.exists() else ""
            raise ServiceError(f"PostgreSQL did not start: {run.stderr.strip()} {log}")
        return self

    def stop(self) -> None:
        data = self.root / "data"
        if (data / "postmaster.pid").exists():
            subprocess.run(
                self._as_owner(
                    [str(_pg_bindir() / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]
                ),
                capture_output=True,
                check=False,
            )
        if self._scratch:
            shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class _Process:
    argv: list[str]
    log: Path
    proc: subprocess.Popen | None = None

    def start(self, env: dict[str, str] | None = None) -> subprocess.Popen:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                self.argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                start_new_session=True,  # stop() ends the whole group (uvicorn's workers too)
            )
        return self.proc

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            _end_group(self.proc.pid)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=10)


def _end_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _bin(name: str) -> str:
    here = Path(sys.executable).parent / name
    return str(here) if here.exists() else name


@dataclass
class MlflowServer:
    """`mlflow server` on a PostgreSQL database with artifacts proxied into `artifacts`."""

    backend_uri: str
    artifacts: Path
    port: int = 0
    log: Path | None = None
    _process: _Process | None = field(default=None, repr=False)

    @property
    def uri(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self, timeout_s: float = 120.0) -> MlflowServer:
        self.port = self.port or free_port()
        argv = [
            _bin("mlflow"), "server",
            "--backend-store-uri", self.backend_uri,
            "--artifacts-destination", str(Path(self.artifacts).resolve()),
            "--host", HOST, "--port", str(self.port), "--workers", "2",
        ]  # fmt: skip
        log = self.log or Path(self.artifacts).parent / "mlflow-server.log"
        self._process = _Process(argv, log)
        proc = self._process.start()

        def healthy() -> bool:
            with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as r:
                return r.status == 200

        try:
            _wait(healthy, f"mlflow server (log: {log})", timeout_s, proc)
        except ServiceError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()


@dataclass
class DaskCluster:
    """A `dask scheduler` and `n_workers` single-threaded `dask worker` processes."""

    folder: Path
    n_workers: int = 2
    port: int = 0
    _processes: list[_Process] = field(default_factory=list, repr=False)

    @property
    def address(self) -> str:
        return f"tcp://{HOST}:{self.port}"

    def start(self, timeout_s: float = 60.0) -> DaskCluster:
        self.port = self.port or free_port()
        folder = Path(self.folder)
        sched = _Process(
            [_bin("dask"), "scheduler", "--host", HOST, "--port", str(self.port),
             "--no-dashboard"],
            folder / "dask-scheduler.log",
        )  # fmt: skip
        self._processes.append(sched)
        proc = sched.start()
        _wait(lambda: _port_open(self.port), "dask scheduler", timeout_s, proc)
        workers = _Process(
            [_bin("dask"), "worker", self.address, "--nworkers", str(self.n_workers),
             "--nthreads", "1", "--host", HOST, "--no-dashboard",
             "--local-directory", str(folder / "dask-workers")],
            folder / "dask-workers.log",
        )  # fmt: skip
        self._processes.append(workers)
        workers.start()
        from distributed import Client

        with Client(self.address, timeout=timeout_s) as client:
            client.wait_for_workers(self.n_workers, timeout=timeout_s)
        return self

    def stop(self) -> None:
        for p in reversed(self._processes):
            p.stop()


def _start(folder: Path, mlflow: bool, dask: bool) -> dict[str, str]:
    """Start the services, recording each in `services.json` as it comes up (so that `_stop`
    stops what did start when a later one fails)."""
    folder.mkdir(parents=True, exist_ok=True)
    pg = Postgres(folder / "postgres")
    state: dict[str, object] = {
        "postgres": str(pg.root),
        "port": pg.port,
        "scratch": pg._scratch,
        "pids": {},
    }
    pids: dict[str, int] = state["pids"]  # type: ignore[assignment]

    def save() -> None:
        (folder / "services.json").write_text(json.dumps(state, indent=2))

    save()
    pg.start()
    env = {ENV_POSTGRES: pg.url}
    if mlflow:
        backend = create_database(pg.url, "mlflow", exist_ok=True)  # a restart keeps the runs
        server = MlflowServer(backend, folder / "mlflow-artifacts")
        try:
            server.start()
        finally:
            if server._process is not None and server._process.proc is not None:
                pids["mlflow"] = server._process.proc.pid
                save()
        env[ENV_MLFLOW] = server.uri
    if dask:
        cluster = DaskCluster(folder)
        try:
            cluster.start()
        finally:
            for k, p in enumerate(cluster._processes):
                if p.proc is not None:
                    pids[f"dask{k}"] = p.proc.pid
            save()
        env[ENV_DASK] = cluster.address
    lines = [f"export {k}={shlex.quote(v)}" for k, v in env.items()]
    (folder / "env").write_text("\n".join(lines) + "\n")
    return env


def _stop(folder: Path) -> None:
    path = folder / "services.json"
    if not path.exists():
        return
    state = json.loads(path.read_text())
    for pid in reversed(list(state["pids"].values())):
        _end_group(int(pid))
    pg = Postgres(Path(state["postgres"]), int(state["port"]))
    pg._scratch = bool(state.get("scratch"))
    pg.stop()
    path.unlink()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tradelab.testing.services",
        description="Start or stop PostgreSQL, an MLflow server on it and a Dask cluster on "
        "127.0.0.1 (for the distributed tests and for trying tracking=server).",
    )
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("--dir", type=Path, default=Path(".services"))
    parser.add_argument("--mlflow", action="store_true", help="also an MLflow tracking server")
    parser.add_argument("--dask", action="store_true", help="also a Dask scheduler + 2 workers")
    args = parser.parse_args(argv)
    folder = args.dir.resolve()
    if args.action == "stop":
        _stop(folder)
        return 0
    try:
        env = _start(folder, args.mlflow, args.dask)
    except (ServiceError, subprocess.CalledProcessError) as exc:
        _stop(folder)
        print(f"services: error: {exc}", file=sys.stderr)
        return 1
    for k, v in env.items():
        print(f"export {k}={shlex.quote(v)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
