"""``storecredit run``: the four services and the gateway as separate processes, logs
side by side.

Each service's output is prefixed with its name. Ctrl-C (or SIGTERM) stops
them all cleanly: each gets SIGTERM, finishes in-flight messages and its
outbox relay's last pass, and exits; one that hangs is killed after a grace
period. If one service dies, the others are stopped too and the exit code
says so.

Each service gets its own HTTP endpoint (``/metrics``, ``/health/live``,
``/health/ready``) on a fixed port, on ``STORECREDIT_HTTP_HOST`` (127.0.0.1 by
default): ledger 9181, store_credit 9182, order 9183, fulfillment 9184.
``STORECREDIT_HTTP_PORT=off`` in the runner's environment turns them all off.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from typing import IO

from shared.runtime import sealing
from shared.runtime.settings import SERVICES
from shared.tools.local_gateway import gateway_signing_keys, use_local_gateway
from shared.tools.local_keys import own_key_only

GRACE_SECONDS = 20.0
HTTP_PORTS = {"ledger": 9181, "store_credit": 9182, "order": 9183, "fulfillment": 9184}
GATEWAY = "gateway"
PROCESSES = (*SERVICES, GATEWAY)
"""The gateway serves on STORECREDIT_GATEWAY_PORT (8080): its API, docs, health, metrics."""
HTTP_PORT_VARIABLE = "STORECREDIT_HTTP_PORT"
COLOURS = ("\033[36m", "\033[35m", "\033[33m", "\033[32m")
RESET = "\033[0m"


def _pump(name: str, colour: str, stream: IO[str]) -> None:
    use_colour = sys.stdout.isatty()
    label = f"{colour}{name:<13}|{RESET}" if use_colour else f"{name:<13}|"
    for line in stream:
        sys.stdout.write(f"{label} {line}")
        sys.stdout.flush()


def environment_for(name: str, env: Mapping[str, str]) -> dict[str, str]:
    """A child's environment: the runner's, with the service's own HTTP port (the
    gateway: its sign-in, the clients' signing keys and no service secret)."""
    child = dict(env)
    if name == GATEWAY:
        seal_private = child.pop("STORECREDIT_CODE_SEAL_PRIVATE_KEY", None)
        if seal_private and "STORECREDIT_CODE_SEAL_PUBLIC_KEY" not in child:
            child["STORECREDIT_CODE_SEAL_PUBLIC_KEY"] = sealing.public_key_for(seal_private)
        child.pop("STORECREDIT_CODE_HASH_KEY", None)
        for database in [n for n in child if n.endswith("DATABASE_URL")]:
            child.pop(database)  # it has no database, and no business with theirs
        gateway_signing_keys(child)
        use_local_gateway(child)
    own_key_only(child, name)
    if name in HTTP_PORTS and child.get(HTTP_PORT_VARIABLE, "").strip().lower() != "off":
        child[HTTP_PORT_VARIABLE] = str(HTTP_PORTS[name])
    return child


def _print_endpoints(env: Mapping[str, str]) -> None:
    if env.get(HTTP_PORT_VARIABLE, "").strip().lower() == "off":
        return
    host = env.get("STORECREDIT_HTTP_HOST") or "127.0.0.1"
    listed = ", ".join(f"{name} http://{host}:{port}" for name, port in HTTP_PORTS.items())
    print(f"runner: /metrics and /health/ready of {listed}", flush=True)
    gateway = f"http://{env.get('STORECREDIT_GATEWAY_HOST') or '127.0.0.1'}:" + (
        env.get("STORECREDIT_GATEWAY_PORT") or "8080"
    )
    print(
        f"runner: the gateway at {gateway} (docs {gateway}/docs); sign in with "
        "`storecredit token CUSTOMER_ID` (a customer's bearer token) or "
        "`storecredit token --admin` (the X-API-Key value)",
        flush=True,
    )
    print(
        f"runner: the Dashboard at {gateway}/dashboard/; sign in with the API key "
        "`storecredit token --admin` prints",
        flush=True,
    )


def _start(name: str, colour: str, env: Mapping[str, str]) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", f"services.{name}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=environment_for(name, env),
        start_new_session=True,  # Ctrl-C reaches the runner only; it stops the children
    )
    assert process.stdout is not None
    threading.Thread(target=_pump, args=(name, colour, process.stdout), daemon=True).start()
    return process


def _stop_all(processes: dict[str, subprocess.Popen[str]]) -> None:
    for process in processes.values():
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + GRACE_SECONDS
    for name, process in processes.items():
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"runner: {name} did not stop in {GRACE_SECONDS:.0f}s, killing it", flush=True)
            process.kill()
            process.wait()


def run_services(env: Mapping[str, str] | None = None) -> int:
    """Start every service; return when they stopped (0 after Ctrl-C)."""
    environment = dict(os.environ if env is None else env)
    environment.setdefault("PYTHONUNBUFFERED", "1")
    stopping = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    processes = {
        name: _start(name, COLOURS[i % len(COLOURS)], environment)
        for i, name in enumerate(PROCESSES)
    }
    print("runner: services started; press Ctrl-C to stop them", flush=True)
    _print_endpoints(environment)
    failed: str | None = None
    while not stopping.is_set():
        for name, process in processes.items():
            if process.poll() is not None:
                failed = name
                stopping.set()
        stopping.wait(0.5)
    print("runner: stopping services...", flush=True)
    _stop_all(processes)
    if failed is not None:
        code = processes[failed].returncode
        print(f"runner: {failed} exited with code {code}; stopped the others", flush=True)
        return 1
    print("runner: all services stopped", flush=True)
    return 0
