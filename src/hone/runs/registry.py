"""The run registry: one embedded SQLite file, `<runs_dir>/registry.sqlite`, indexing every run.

Many processes share the file (a training run, `hone runs`, a server), so every operation opens
its own connection, runs one short transaction and closes it; the database is in WAL mode so
readers never block the writer, and a busy timeout makes writers queue instead of failing.

The file is created whole (built under a temporary name, then linked into place), so a registry file
is never empty while it is being created; one that is empty, or is not SQLite at all, was damaged
(hone.runs.rebuild rebuilds the index from the run directories). A damaged file raises RegistryDamaged,
whose message names the file and the fix, never a raw sqlite3 error.

A run that dies without saying so (SIGKILL, the OOM killer, a power cut) leaves its row at
"running". The row records the pid, the host and the process's start time, so a reader on the
same host can tell that the process is gone (or that its pid now belongs to another process) and
report the run as "killed". That status is derived when reading, never written: the row keeps
what the run itself last said.
"""

from __future__ import annotations

import os
import socket
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal, get_args

SCHEMA_VERSION = 1
BUSY_TIMEOUT_S = 30.0
SQLITE_HEADER = b"SQLite format 3\x00"  # the first 16 bytes of every SQLite 3 database file
# Result codes (low byte) meaning the file itself is bad, not that it is busy: SQLITE_CORRUPT, SQLITE_NOTADB.
_DAMAGED_CODES = (11, 26)

EndStatus = Literal["finished", "failed", "stopped"]
Status = Literal["running", "finished", "failed", "stopped", "killed"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    name           TEXT PRIMARY KEY,
    task           TEXT NOT NULL,
    model          TEXT NOT NULL,
    method         TEXT NOT NULL,
    run_dir        TEXT NOT NULL,
    config_hash    TEXT,
    status         TEXT NOT NULL,
    primary_metric TEXT,
    score          REAL,
    message        TEXT,
    created        TEXT NOT NULL,
    started        TEXT NOT NULL,
    heartbeat      TEXT,
    finished       TEXT,
    pid            INTEGER,
    host           TEXT,
    pid_start      TEXT
);
"""

_COLUMNS = (
    "name, task, model, method, status, primary_metric, score, run_dir, created, finished, "
    "pid, host, message, config_hash, heartbeat, pid_start"
)


class RegistryDamaged(RuntimeError):
    """The registry file is not a usable SQLite database; the message names it and how to rebuild it."""

    def __init__(self, path: Path, problem: str) -> None:
        self.path, self.problem = path, problem
        super().__init__(
            f"{path} {problem}; rebuild the index from the run directories with "
            f"`hone runs --rebuild --dir {path.parent}` (the damaged file is kept beside it)"
        )


def header_problem(path: Path) -> str | None:
    """What is wrong with `path`'s first bytes, when it is certainly not a SQLite database; None otherwise
    (also when it is missing). An empty file is reported as such: the caller decides whether that is damage."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(SQLITE_HEADER))
    except FileNotFoundError:
        return None
    if not head:
        return "is empty (0 bytes)"
    if head != SQLITE_HEADER:
        return f"is not a SQLite database (it starts with {head[:8]!r})"
    return None


@dataclass(frozen=True)
class RunRecord:
    """One run as the registry reports it. Times are ISO-8601 UTC strings."""

    name: str
    task: str
    model: str
    method: str
    status: Status
    primary_metric: str | None
    score: float | None
    run_dir: Path
    created: str
    finished: str | None
    pid: int | None
    host: str | None
    message: str | None
    config_hash: str | None = None
    heartbeat: str | None = None


def _row_values(r: RunRecord) -> tuple[object, ...]:
    return (
        r.name,
        r.task,
        r.model,
        r.method,
        str(r.run_dir),
        r.config_hash,
        r.status,
        r.primary_metric,
        r.score,
        r.message,
        r.created,
        r.created,
        r.heartbeat,
        r.finished,
        r.pid,
        r.host,
    )


def _now() -> str:
    """Now, as an ISO-8601 UTC string (sortable as text)."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _read_text(path: str) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as fh:
            return fh.read().strip()
    except OSError:
        return None


def _proc_stat(pid: int) -> tuple[str, str] | None:
    """(state, start time in clock ticks since boot) from /proc/<pid>/stat; None without /proc."""
    text = _read_text(f"/proc/{pid}/stat")
    if not text or ")" not in text:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ")".
    fields = text.rsplit(")", 1)[1].split()
    if len(fields) < 20:
        return None
    return fields[0], fields[19]


def process_start_id(pid: int) -> str | None:
    """An id for the process now holding `pid`, different for any later process reusing the pid.

    It is the boot id plus the start time since boot, so it also changes across reboots.
    None where /proc is unavailable (macOS, Windows): liveness then rests on the pid alone.
    """
    stat = _proc_stat(pid)
    if stat is None:
        return None
    boot = _read_text("/proc/sys/kernel/random/boot_id") or "unknown-boot"
    return f"{boot}:{stat[1]}"


def process_alive(pid: int, start_id: str | None) -> bool:
    """Whether the process that registered as (`pid`, `start_id`) is still running here."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # the pid exists but belongs to another user: fall through to the start-time check
    stat = _proc_stat(pid)
    if stat is None:
        return True
    if stat[0] in ("Z", "X"):  # a zombie has exited; only its parent has not reaped it yet
        return False
    return start_id is None or process_start_id(pid) == start_id


class Registry:
    """The runs index at `path` (normally `<runs_dir>/registry.sqlite`), created on first use."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._host = socket.gethostname()
        self._create_whole()
        if (problem := header_problem(self.path)) is not None:
            raise RegistryDamaged(self.path, problem)
        with self._damage_explained():
            self._init_schema(self.path)

    @contextmanager
    def _damage_explained(self) -> Iterator[None]:
        """sqlite3's errors for a damaged file become RegistryDamaged, naming the file and the fix."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            if (getattr(exc, "sqlite_errorcode", 0) & 0xFF) not in _DAMAGED_CODES:
                raise  # busy, locked, read-only: not damage
            raise RegistryDamaged(self.path, f"is damaged ({exc})") from None

    def _create_whole(self) -> None:
        """Create the file, schema included, under a temporary name and link it into place, unless it exists.

        A reader therefore never meets a half-created registry, and an empty registry file always means damage.
        """
        if self.path.exists():
            return
        tmp = self.path.with_name(f".{self.path.name}.new-{os.getpid()}")
        tmp.unlink(missing_ok=True)
        try:
            self._init_schema(tmp)
            os.link(tmp, self.path)
        except FileExistsError:
            pass  # another process created it first: theirs is as good
        except OSError:  # a file system without hard links: a rename is whole too, only not exclusive
            if not self.path.exists():
                os.replace(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)

    @contextmanager
    def _connect(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        """One short transaction on a fresh connection, committed (or rolled back) and closed."""
        with self._damage_explained(), self._transaction(self.path, write) as conn:
            yield conn

    @staticmethod
    @contextmanager
    def _transaction(path: Path, write: bool) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        with closing(conn):
            conn.row_factory = sqlite3.Row
            # IMMEDIATE takes the write lock up front, so the busy timeout applies to it; a
            # deferred read-then-write can fail with "database is locked" without waiting.
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _init_schema(self, path: Path) -> None:
        """Switch the file at `path` to WAL, create the tables, and refuse a schema newer than ours."""
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        with closing(conn):
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")  # persistent: stored in the file
        with self._transaction(path, write=True) as conn:
            # executescript() would commit our transaction first; run the statements one by one.
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            row = conn.execute("SELECT version FROM schema_version").fetchone()
            if row is None:
                conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
            elif row["version"] > SCHEMA_VERSION:
                raise RuntimeError(
                    f"{self.path}: registry schema version {row['version']} is newer than this "
                    f"hone understands ({SCHEMA_VERSION}); upgrade hone"
                )

    def start(self, name: str, task: str, model: str, method: str, run_dir: Path, config_hash: str) -> None:
        """Record that this process is running `name`; a restart of an existing run resets it."""
        now, pid = _now(), os.getpid()
        with self._connect(write=True) as conn:
            conn.execute(
                """INSERT INTO runs (name, task, model, method, run_dir, config_hash, status,
                       created, started, heartbeat, pid, host, pid_start)
                   VALUES (?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (name) DO UPDATE SET
                       task = excluded.task, model = excluded.model, method = excluded.method,
                       run_dir = excluded.run_dir, config_hash = excluded.config_hash,
                       status = 'running', started = excluded.started,
                       heartbeat = excluded.heartbeat, pid = excluded.pid,
                       host = excluded.host, pid_start = excluded.pid_start,
                       finished = NULL, message = NULL, primary_metric = NULL, score = NULL""",
                (
                    name,
                    task,
                    model,
                    method,
                    str(run_dir),
                    config_hash,
                    now,
                    now,
                    now,
                    pid,
                    self._host,
                    process_start_id(pid),
                ),
            )

    def replace_all(self, records: Sequence[RunRecord]) -> None:
        """Make the index hold `records` and nothing else, in one transaction (a rebuild). The row of a run
        whose process is still running it stays as it is: it knows more than the run's directory does."""
        with self._connect(write=True) as conn:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM runs").fetchall()
            live = [r.name for r in map(self._record, rows) if r.status == "running"]
            conn.execute(f"DELETE FROM runs WHERE name NOT IN ({', '.join('?' * len(live))})", live)
            conn.executemany(
                """INSERT INTO runs (name, task, model, method, run_dir, config_hash, status, primary_metric,
                       score, message, created, started, heartbeat, finished, pid, host, pid_start)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)
                   ON CONFLICT (name) DO NOTHING""",
                [_row_values(r) for r in records],
            )

    def heartbeat(self, name: str) -> None:
        """Say that `name` is still alive (the time shows in `RunRecord.heartbeat`)."""
        self._update(name, "heartbeat = ?", (_now(),))

    def finish(
        self,
        name: str,
        status: EndStatus,
        primary_metric: str | None = None,
        score: float | None = None,
        message: str | None = None,
    ) -> None:
        """Record how `name` ended: "finished", "failed" (with `message`) or "stopped"."""
        if status not in get_args(EndStatus):
            raise ValueError(f"status {status!r}: use one of {', '.join(get_args(EndStatus))}")
        now = _now()
        self._update(
            name,
            "status = ?, primary_metric = ?, score = ?, message = ?, finished = ?, heartbeat = ?",
            (status, primary_metric, score, message, now, now),
        )

    def set_metric(self, name: str, metric: str, score: float) -> None:
        """Record `name`'s primary metric and score (e.g. after `hone evaluate`)."""
        self._update(name, "primary_metric = ?, score = ?", (metric, score))

    def _update(self, name: str, assignments: str, values: tuple[object, ...]) -> None:
        """UPDATE one run's row; a run that was never started is an error, not a no-op."""
        with self._connect(write=True) as conn:
            cursor = conn.execute(f"UPDATE runs SET {assignments} WHERE name = ?", (*values, name))
        if cursor.rowcount == 0:
            raise KeyError(f"no run named {name!r} in {self.path}; call Registry.start() first")

    def get(self, name: str) -> RunRecord | None:
        """The run called `name`, or None."""
        with self._connect() as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM runs WHERE name = ?", (name,)).fetchone()
        return None if row is None else self._record(row)

    def list(self) -> list[RunRecord]:
        """Every run, newest first."""
        with self._connect() as conn:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM runs ORDER BY created DESC, rowid DESC").fetchall()
        return [self._record(row) for row in rows]

    def _record(self, row: sqlite3.Row) -> RunRecord:
        """The RunRecord for a row, "killed" if it says running but its process is gone."""
        values = dict(row)
        pid_start = values.pop("pid_start")
        if values["status"] == "running" and self._died(values["pid"], values["host"], pid_start):
            values["status"] = "killed"
        values["run_dir"] = Path(values["run_dir"])
        return RunRecord(**values)

    def _died(self, pid: int | None, host: str | None, pid_start: str | None) -> bool:
        """Whether a "running" row's process is provably gone; other hosts cannot be checked."""
        if pid is None or host != self._host:
            return False
        return not process_alive(pid, pid_start)
