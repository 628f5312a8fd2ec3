"""OS plumbing: running commands, pid files, ports, log tails and locks."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shlex
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from shared.tools.stack.errors import StackError

logger = logging.getLogger(__name__)


def privileged(cmd: Sequence[str]) -> list[str]:
    """The command as is when we are root, else behind non-interactive sudo."""
    if os.geteuid() == 0:
        return list(cmd)
    return ["sudo", "-n", *cmd]


def run(
    cmd: Sequence[str], *, what: str, timeout: float = 300.0
) -> subprocess.CompletedProcess[str]:
    """Run a command without stdin; raise StackError with its output on failure."""
    logger.debug("running: %s", shlex.join(cmd))
    try:
        done = subprocess.run(
            list(cmd),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as exc:
        raise StackError(f"{what}: command not found: {cmd[0]}") from exc
    except subprocess.TimeoutExpired as exc:
        raise StackError(f"{what}: `{shlex.join(cmd)}` did not finish in {timeout:.0f} s") from exc
    if done.returncode != 0:
        output = tail_text(f"{done.stdout}\n{done.stderr}".strip())
        raise StackError(f"{what} failed (exit {done.returncode}): `{shlex.join(cmd)}`\n{output}")
    return done


def tail_text(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])


def tail_file(path: Path, lines: int = 40) -> str:
    """The last lines of a log file, or a note saying why there are none."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 64 * 1024))
            text = handle.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return f"({path} does not exist)"
    except OSError as exc:
        return f"(cannot read {path}: {exc})"
    body = tail_text(text, lines)
    return f"--- last lines of {path} ---\n{body}" if body else f"({path} is empty)"


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def is_alive(pid: int) -> bool:
    """True if the process exists and is not a zombie (reaping our own children)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] != "Z"


def cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode("utf-8", errors="replace").strip()


def terminate(pid: int, timeout: float = 30.0) -> str:
    """SIGTERM, wait up to `timeout` seconds, then SIGKILL. Says which it took."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if wait_until(lambda: not is_alive(pid), timeout=timeout, interval=0.2):
        return "exited after SIGTERM"
    logger.warning("pid %d still alive %.0f s after SIGTERM; sending SIGKILL", pid, timeout)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not is_alive(pid), timeout=10.0, interval=0.2)
    return "killed with SIGKILL"


def wait_until(check: Callable[[], bool], *, timeout: float, interval: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def who_listens(port: int) -> str:
    """Best-effort description of the process listening on a TCP port."""
    try:
        done = subprocess.run(
            ["ss", "-ltnpH", f"sport = :{port}"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown process"
    users = [line.split("users:", 1)[1] for line in done.stdout.splitlines() if "users:" in line]
    return ", ".join(users) if users else "unknown process"


def ensure_port_free(port: int, purpose: str) -> None:
    if port_open(port):
        raise StackError(
            f"port {port} (wanted for {purpose}) is already in use by something this "
            f"project did not start: {who_listens(port)}. Stop it, or use another profile."
        )


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Exclusive advisory lock, so two `up`/`down` calls do not interleave."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            logger.info("waiting for another stack command holding %s", path)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
