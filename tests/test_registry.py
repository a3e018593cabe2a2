"""The run registry: roundtrips, ordering, and runs that die across process boundaries."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hone.runs.registry import Registry, RegistryDamaged, RunRecord
from waiting import scaled, wait_until

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def _start(reg: Registry, name: str, tmp_path: Path) -> None:
    reg.start(name, "classify", "minilm", "lora", tmp_path / name, "cfg-hash")


def _child(db: Path, body: str, *args: str) -> subprocess.Popen[str]:
    """A Python child that opens the registry at `db` and runs `body` (with `args` in argv)."""
    prelude = f"""
        import os, signal, sys, time
        from pathlib import Path
        from hone.runs.registry import Registry
        reg = Registry(Path({str(db)!r}))
    """
    code = textwrap.dedent(prelude) + textwrap.dedent(body)
    cmd = [sys.executable, "-c", code, *args]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)


def _wait_ready(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"


def _eventually_killed(reg: Registry, name: str) -> bool:
    """SIGKILL is delivered asynchronously: poll until the registry sees the death."""
    return wait_until(lambda: reg.get(name).status == "killed", 10, f"{name} seen as killed")  # type: ignore[union-attr]


def test_start_finish_roundtrip(tmp_path: Path) -> None:
    reg = Registry(tmp_path / "registry.sqlite")
    _start(reg, "a", tmp_path)
    running = reg.get("a")
    assert isinstance(running, RunRecord)
    assert running.status == "running"
    assert running.finished is None and running.created.endswith("+00:00")
    reg.heartbeat("a")
    reg.set_metric("a", "macro_f1", 0.5)
    reg.finish("a", "finished", "macro_f1", 0.8, "done")
    rec = reg.get("a")
    assert rec is not None
    assert (rec.status, rec.primary_metric, rec.score, rec.message) == ("finished", "macro_f1", 0.8, "done")
    assert (rec.task, rec.model, rec.method, rec.run_dir) == ("classify", "minilm", "lora", tmp_path / "a")
    assert rec.finished is not None and rec.finished >= rec.created
    assert reg.get("missing") is None


def test_restart_resets_the_outcome(tmp_path: Path) -> None:
    reg = Registry(tmp_path / "registry.sqlite")
    _start(reg, "a", tmp_path)
    reg.finish("a", "failed", message="NaN loss")
    _start(reg, "a", tmp_path)
    rec = reg.get("a")
    assert rec is not None
    assert (rec.status, rec.message, rec.finished) == ("running", None, None)


def test_errors_name_the_fix(tmp_path: Path) -> None:
    reg = Registry(tmp_path / "registry.sqlite")
    with pytest.raises(KeyError, match="start"):
        reg.finish("nope", "finished")
    _start(reg, "a", tmp_path)
    with pytest.raises(ValueError, match="finished"):
        reg.finish("a", "done")  # type: ignore[arg-type]


def test_list_is_newest_first(tmp_path: Path) -> None:
    reg = Registry(tmp_path / "registry.sqlite")
    for name in ["first", "second", "third"]:
        _start(reg, name, tmp_path)
    assert [r.name for r in reg.list()] == ["third", "second", "first"]


def test_schema_is_versioned_and_wal(tmp_path: Path) -> None:
    db = tmp_path / "registry.sqlite"
    Registry(db)
    Registry(db)  # reopening an existing registry is fine
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(1,)]
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(RuntimeError, match="upgrade hone"):
        Registry(db)


def test_sigkilled_run_shows_killed(tmp_path: Path) -> None:
    db = tmp_path / "registry.sqlite"
    proc = _child(
        db,
        f"""
        reg.start("victim", "classify", "minilm", "lora", Path({str(tmp_path)!r}), "h")
        print("ready", flush=True)
        time.sleep(60)
    """,
    )
    _wait_ready(proc)
    reg = Registry(db)
    assert reg.get("victim").status == "running"  # type: ignore[union-attr]
    proc.kill()
    try:
        # Not reaped yet: once the signal lands the child is a zombie, which counts as dead.
        assert _eventually_killed(reg, "victim")
    finally:
        proc.wait(timeout=scaled(10))
    assert reg.get("victim").status == "killed"  # type: ignore[union-attr]
    assert [r.status for r in reg.list()] == ["killed"]


def test_reused_pid_shows_killed(tmp_path: Path) -> None:
    db = tmp_path / "registry.sqlite"
    reg = Registry(db)
    _start(reg, "a", tmp_path)  # this (live) process's pid ...
    if not Path("/proc/self/stat").exists():
        pytest.skip("needs /proc to tell processes sharing a pid apart")
    with sqlite3.connect(db) as conn:  # ... but registered by an earlier process
        conn.execute("UPDATE runs SET pid_start = 'other-boot:1'")
    assert reg.get("a").status == "killed"  # type: ignore[union-attr]


def test_running_on_another_host_is_not_judged(tmp_path: Path) -> None:
    db = tmp_path / "registry.sqlite"
    reg = Registry(db)
    _start(reg, "a", tmp_path)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE runs SET host = 'elsewhere', pid = 999999999")
    assert reg.get("a").status == "running"  # type: ignore[union-attr]


def test_sigterm_handled_shows_stopped(tmp_path: Path) -> None:
    db = tmp_path / "registry.sqlite"
    proc = _child(
        db,
        f"""
        def on_term(signum, frame):
            reg.finish("polite", "stopped", message="SIGTERM")
            sys.exit(0)
        signal.signal(signal.SIGTERM, on_term)
        reg.start("polite", "classify", "minilm", "lora", Path({str(tmp_path)!r}), "h")
        print("ready", flush=True)
        time.sleep(60)
    """,
    )
    _wait_ready(proc)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=scaled(30)) == 0
    rec = Registry(db).get("polite")
    assert rec is not None
    assert (rec.status, rec.message) == ("stopped", "SIGTERM")


def test_concurrent_writers_do_not_corrupt(tmp_path: Path) -> None:
    db = tmp_path / "registry.sqlite"
    Registry(db)
    n = 60
    body = f"""
        who = sys.argv[1]
        print("ready", flush=True)
        for i in range({n}):
            name = f"{{who}}-{{i}}"
            reg.start(name, "classify", "minilm", "lora", Path("runs") / name, "h")
            reg.heartbeat(name)
            reg.start("shared", "classify", "minilm", who, Path("runs/shared"), "h")
            reg.finish(name, "finished", "macro_f1", i / {n})
            reg.list()
    """
    procs = [_child(db, body, who) for who in ["p", "q"]]
    for proc in procs:
        _wait_ready(proc)
    for proc in procs:
        assert proc.wait(timeout=scaled(120)) == 0
    reg = Registry(db)
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    records = {r.name: r for r in reg.list()}
    assert len(records) == 2 * n + 1
    for who in ["p", "q"]:
        for i in range(n):
            rec = records[f"{who}-{i}"]
            assert (rec.status, rec.score) == ("finished", i / n)
    assert records["shared"].method in {"p", "q"}


@pytest.mark.parametrize(("content", "problem"), [(b"junk" * 1024, "is not a SQLite database"), (b"", "is empty")])
def test_a_damaged_file_is_named_with_the_fix_not_a_sqlite_error(tmp_path: Path, content: bytes, problem: str) -> None:
    db = tmp_path / "registry.sqlite"
    db.write_bytes(content)
    with pytest.raises(RegistryDamaged, match=problem) as damaged:
        Registry(db)
    assert str(db) in str(damaged.value) and "hone runs --rebuild" in str(damaged.value)
    assert db.read_bytes() == content  # reading never "repairs" by overwriting


def test_a_new_registry_file_is_never_empty(tmp_path: Path) -> None:
    db = tmp_path / "registry.sqlite"
    Registry(db)
    assert db.read_bytes().startswith(b"SQLite format 3\x00")
    assert [p.name for p in tmp_path.iterdir()] == ["registry.sqlite"]  # no temporary left behind


def test_replace_all_keeps_a_live_run_and_drops_what_the_directories_do_not_hold(tmp_path: Path) -> None:
    reg = Registry(tmp_path / "registry.sqlite")
    for name in ("live", "gone", "rebuilt"):
        _start(reg, name, tmp_path)  # all three registered by this live process ...
    with sqlite3.connect(tmp_path / "registry.sqlite") as conn:  # ... but two of them by a process now dead
        conn.execute("UPDATE runs SET pid_start = 'other-boot:1' WHERE name != 'live'")
    rebuilt = RunRecord(
        "rebuilt", "classify", "minilm", "lora", "stopped", None, None, tmp_path, "t0", "t1", None, None, "m"
    )
    live = RunRecord("live", "classify", "minilm", "lora", "failed", None, None, tmp_path, "t0", "t1", None, None, "m")
    reg.replace_all([rebuilt, live])
    records = {r.name: r for r in reg.list()}
    assert set(records) == {"live", "rebuilt"}
    assert records["live"].status == "running"  # its own process knows better than its directory
    assert (records["rebuilt"].status, records["rebuilt"].finished) == ("stopped", "t1")
