"""Start, stop and describe one KRaft Kafka node (broker + controller) per profile.

Files live where `kafka_files.KafkaPaths` says; the process runs detached in
its own session, so it outlives the Python process that started it.
"""

from __future__ import annotations

import base64
import logging
import secrets
import shlex
import subprocess
import time
from pathlib import Path

from shared.runtime.provision.topics import kafka_answers
from shared.tools.stack import kafka_runtime
from shared.tools.stack.errors import StackError
from shared.tools.stack.kafka_files import (
    BrokerCredentials,
    KafkaPaths,
    admin_options,
    kcat_config,
    server_properties,
)
from shared.tools.stack.processes import (
    cmdline,
    ensure_port_free,
    is_alive,
    port_open,
    read_pid,
    run,
    tail_file,
    terminate,
)
from shared.tools.stack.profiles import Profile

logger = logging.getLogger(__name__)

READY_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 30.0
_JVM_FLAGS = [
    "-server",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-Djava.awt.headless=true",
]


def running_pid(paths: KafkaPaths) -> int | None:
    """The pid from our pid file if that process is alive and is our broker."""
    pid = read_pid(paths.pid_file)
    if pid is None or not is_alive(pid):
        return None
    command = cmdline(pid)
    if command and ("kafka.Kafka" not in command or str(paths.properties) not in command):
        return None  # the pid was reused by an unrelated process
    return pid


def start(profile: Profile, root: Path) -> str:
    """Make sure the profile's broker runs and answers; return bootstrap servers."""
    paths = KafkaPaths.of(profile, root)
    bootstrap = profile.bootstrap_servers
    pid = running_pid(paths)
    if pid is not None:
        if port_open(profile.kafka_port) and kafka_answers(bootstrap, **admin_options(paths)):
            logger.info("Kafka [%s] already running (pid %d) at %s", profile.name, pid, bootstrap)
            return bootstrap
        logger.info("Kafka [%s] pid %d is alive but not answering yet; waiting", profile.name, pid)
        _wait_ready(profile, paths, pid)
        return bootstrap
    paths.pid_file.unlink(missing_ok=True)
    ensure_port_free(profile.kafka_port, f"Kafka [{profile.name}]")
    ensure_port_free(profile.controller_port, f"the Kafka [{profile.name}] controller")
    java = kafka_runtime.java_executable()
    kafka_runtime.check_java(java)
    kafka_runtime.ensure_jars(root, paths.libs)
    for folder in (paths.data, paths.logs):
        folder.mkdir(parents=True, exist_ok=True)
    credentials = BrokerCredentials.of(paths)
    paths.properties.write_text(server_properties(profile, paths.data, credentials))
    paths.kcat_config.write_text(kcat_config(credentials))
    paths.kcat_config.chmod(0o600)
    base_cmd = _java_base(java, paths)
    _format_once(paths, base_cmd)
    pid = _launch(profile, paths, base_cmd)
    try:
        _wait_ready(profile, paths, pid)
    except StackError:
        if is_alive(pid):
            terminate(pid, STOP_TIMEOUT_S)
        paths.pid_file.unlink(missing_ok=True)
        raise
    return bootstrap


def _java_base(java: str, paths: KafkaPaths) -> list[str]:
    log4j = paths.root / kafka_runtime.LOG4J2_CONFIG
    return [
        java,
        f"-Dlog4j2.configurationFile={log4j}",
        f"-Dkafka.logs.dir={paths.logs}",
        "-cp",
        f"{paths.libs}/*",  # Java expands this wildcard itself; never shell-globbed
    ]


def _format_once(paths: KafkaPaths, base_cmd: list[str]) -> None:
    if (paths.data / "meta.properties").is_file():
        return
    if not paths.cluster_id_file.is_file():
        cluster_id = base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")
        paths.cluster_id_file.write_text(cluster_id + "\n")
    cluster_id = paths.cluster_id_file.read_text().strip()
    logger.info("formatting Kafka storage in %s (cluster id %s)", paths.data, cluster_id)
    # One argument, "=" and all: an id may begin with "-" (1 in 64), an option to a parser.
    cmd = [*base_cmd, "kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}"]
    run([*cmd, "-c", str(paths.properties)], what="formatting Kafka storage", timeout=120)


# `sh` backgrounds the JVM and exits at once, so the broker is not our child:
# no zombie, no "subprocess still running" warning, and it outlives us.
_LAUNCHER = 'log="$1"; shift; "$@" </dev/null >>"$log" 2>&1 & echo $!'


def _launch(profile: Profile, paths: KafkaPaths, base_cmd: list[str]) -> int:
    heap = shlex.split(profile.kafka_heap)
    cmd = [*base_cmd[:1], *heap, *_JVM_FLAGS, *base_cmd[1:], "kafka.Kafka", str(paths.properties)]
    logger.info("starting Kafka [%s] on %s", profile.name, profile.bootstrap_servers)
    with paths.console_log.open("a") as out:
        out.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {shlex.join(cmd)}\n")
    done = subprocess.run(
        ["/bin/sh", "-c", _LAUNCHER, "kafka-launcher", str(paths.console_log), *cmd],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        cwd=paths.home,
        start_new_session=True,
        timeout=30,
        check=False,
    )
    pid_text = done.stdout.strip()
    if done.returncode != 0 or not pid_text.isdigit():
        raise StackError(f"could not launch Kafka: {done.stdout}{done.stderr}")
    paths.pid_file.write_text(f"{pid_text}\n")
    return int(pid_text)


def _wait_ready(profile: Profile, paths: KafkaPaths, pid: int) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    started = time.monotonic()
    admin = admin_options(paths)
    while True:
        if not is_alive(pid):
            raise StackError(
                f"Kafka [{profile.name}] (pid {pid}) exited while starting.\n{_log_tails(paths)}"
            )
        if port_open(profile.kafka_port) and kafka_answers(profile.bootstrap_servers, **admin):
            elapsed = time.monotonic() - started
            logger.info("Kafka [%s] ready after %.1f s (pid %d)", profile.name, elapsed, pid)
            return
        if time.monotonic() > deadline:
            raise StackError(
                f"Kafka [{profile.name}] (pid {pid}) did not answer at "
                f"{profile.bootstrap_servers} within {READY_TIMEOUT_S:.0f} s.\n{_log_tails(paths)}"
            )
        time.sleep(0.5)


def _log_tails(paths: KafkaPaths) -> str:
    return f"{tail_file(paths.console_log, 15)}\n{tail_file(paths.server_log, 40)}"


def stop(profile: Profile, root: Path) -> list[str]:
    paths = KafkaPaths.of(profile, root)
    label = f"kafka [{profile.name}]"
    pid = read_pid(paths.pid_file)
    if pid is None:
        return [f"{label}: not running (no pid file), nothing to stop"]
    if running_pid(paths) is None:
        paths.pid_file.unlink(missing_ok=True)
        return [f"{label}: pid {pid} was not running; removed the stale pid file"]
    logger.info("stopping Kafka [%s] (pid %d)", profile.name, pid)
    how = terminate(pid, STOP_TIMEOUT_S)
    paths.pid_file.unlink(missing_ok=True)
    return [f"{label}: stopped pid {pid} ({how})"]


def describe(profile: Profile, root: Path) -> list[str]:
    paths = KafkaPaths.of(profile, root)
    label = f"kafka [{profile.name}]"
    pid = running_pid(paths)
    where = f"broker {profile.bootstrap_servers}, controller 127.0.0.1:{profile.controller_port}"
    files = [
        f"  data: {paths.data}",
        f"  logs: {paths.server_log}, {paths.console_log}",
        f"  config: {paths.properties}",
    ]
    if pid is None:
        return [f"{label}: not running ({where})", *files]
    listening = "listening" if port_open(profile.kafka_port) else "NOT listening yet"
    return [f"{label}: running, pid {pid}, {where}, {listening}", *files]
