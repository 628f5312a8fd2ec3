"""A dedicated local PostgreSQL cluster per profile, loopback only.

This is NOT Debian's `main` cluster: `up` creates its own cluster (for
example `15/storecredit-test`) with `pg_createcluster`, listening on
127.0.0.1 only, with `trust` authentication for TCP connections (which can
then only come from this machine) and peer authentication on the Unix
socket. Anyone with a shell on this machine can therefore connect as the
`postgres` superuser: fine for a development or CI box, never for a shared
or production host. The cluster is created with `--start-conf=manual`, so it
does not start at boot.

`<root>/.local/state/<profile>-postgres.json` records whether this project
started the cluster; `down` stops it only then.
"""

from __future__ import annotations

import json
import logging
import subprocess
from pathlib import Path
from typing import Any

from shared.tools.stack.errors import StackError
from shared.tools.stack.pg_install import Cluster, ensure_conf_file, ensure_installed, find_cluster
from shared.tools.stack.processes import ensure_port_free, privileged, run, tail_file, wait_until
from shared.tools.stack.profiles import Profile

logger = logging.getLogger(__name__)

READY_TIMEOUT_S = 60.0
CONF_NAME = "storecredit.conf"
CONF = """# Written by shared/tools/stack (the project's local stack); edits are overwritten.
# A dedicated development/test cluster: loopback only, trust auth over TCP.
listen_addresses = '127.0.0.1'
max_connections = 200
# No TLS on loopback: it only costs CPU (about a tenth of a service's, measured by the
# benchmark's profile), and the cluster trusts local connections anyway.
ssl = off
"""


def state_file(profile: Profile, root: Path) -> Path:
    return root / ".local" / "state" / f"{profile.name}-postgres.json"


def _read_state(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_state(path: Path, cluster: Cluster, started_by_us: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "version": cluster.version,
        "cluster": cluster.name,
        "port": cluster.port,
        "started_by_us": started_by_us,
    }
    path.write_text(json.dumps(state, indent=2) + "\n")


def _create(version: str, profile: Profile) -> Cluster:
    ensure_port_free(profile.pg_port, f"PostgreSQL [{profile.name}]")
    logger.info("creating PostgreSQL cluster %s/%s", version, profile.pg_cluster)
    cmd = ["pg_createcluster", version, profile.pg_cluster, "-p", str(profile.pg_port)]
    cmd += ["--start-conf=manual", "--", "--auth-host=trust", "--auth-local=peer"]
    run(privileged(cmd), what=f"creating PostgreSQL cluster {profile.pg_cluster}")
    cluster = find_cluster(profile.pg_cluster)
    if cluster is None:
        raise StackError(f"pg_createcluster succeeded but {profile.pg_cluster} is not listed")
    return cluster


def _fix_port(cluster: Cluster, profile: Profile) -> Cluster:
    """Move a stopped cluster to the profile's port; refuse for a running one."""
    ident = f"{cluster.version}/{cluster.name}"
    if cluster.online:
        raise StackError(
            f"PostgreSQL cluster {ident} runs on port {cluster.port}, but profile "
            f"{profile.name!r} wants {profile.pg_port}. Stop it with "
            f"`pg_ctlcluster {cluster.version} {cluster.name} stop` and run `up` again."
        )
    logger.warning(
        "moving PostgreSQL cluster %s from port %d to %d", ident, cluster.port, profile.pg_port
    )
    cmd = ["pg_conftool", cluster.version, cluster.name, "set", "port", str(profile.pg_port)]
    run(privileged(cmd), what=f"changing the port of {ident}")
    moved = find_cluster(cluster.name)
    if moved is None or moved.port != profile.pg_port:
        raise StackError(f"could not move cluster {ident} to port {profile.pg_port}")
    return moved


def is_ready(port: int) -> bool:
    done = subprocess.run(
        ["pg_isready", "-q", "-h", "127.0.0.1", "-p", str(port), "-t", "2"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


def start(profile: Profile, root: Path) -> str:
    """Make sure the profile's cluster runs and accepts connections; return its URL."""
    version = ensure_installed()
    cluster = find_cluster(profile.pg_cluster) or _create(version, profile)
    if cluster.port != profile.pg_port:
        cluster = _fix_port(cluster, profile)
    ident = f"{cluster.version}/{cluster.name}"
    path = state_file(profile, root)
    previous = _read_state(path)
    changed = ensure_conf_file(cluster, CONF_NAME, CONF)
    if cluster.online:
        if changed:
            run(
                privileged(["pg_ctlcluster", cluster.version, cluster.name, "reload"]),
                what=f"reloading PostgreSQL {ident}",
            )
            logger.warning(
                "PostgreSQL %s settings changed and reloaded; listen_addresses and "
                "max_connections apply after a restart",
                ident,
            )
        same = (
            previous.get("version") == cluster.version and previous.get("cluster") == cluster.name
        )
        started_by_us = same and previous.get("started_by_us") is True
        logger.info("PostgreSQL %s already running on port %d", ident, cluster.port)
        _write_state(path, cluster, started_by_us)
    else:
        ensure_port_free(profile.pg_port, f"PostgreSQL [{profile.name}]")
        logger.info("starting PostgreSQL %s on port %d", ident, cluster.port)
        _write_state(path, cluster, started_by_us=True)  # before waiting: `down` can clean up
        try:
            run(
                privileged(["pg_ctlcluster", cluster.version, cluster.name, "start"]),
                what=f"starting PostgreSQL {ident}",
            )
        except StackError as exc:
            raise StackError(f"{exc}\n{tail_file(Path(cluster.log_file))}") from exc
    if not wait_until(lambda: is_ready(profile.pg_port), timeout=READY_TIMEOUT_S):
        raise StackError(
            f"PostgreSQL {ident} does not accept connections on 127.0.0.1:{profile.pg_port} "
            f"after {READY_TIMEOUT_S:.0f} s.\n{tail_file(Path(cluster.log_file))}"
        )
    return profile.database_server_url


def stop(profile: Profile, root: Path) -> list[str]:
    label = f"postgres [{profile.name}]"
    path = state_file(profile, root)
    state = _read_state(path)
    cluster = find_cluster(profile.pg_cluster)
    if cluster is None:
        path.unlink(missing_ok=True)
        return [f"{label}: cluster {profile.pg_cluster} does not exist, nothing to stop"]
    ident = f"{cluster.version}/{cluster.name}"
    if not cluster.online:
        path.unlink(missing_ok=True)
        return [f"{label}: cluster {ident} is not running, nothing to stop"]
    if state.get("started_by_us") is not True:
        path.unlink(missing_ok=True)
        return [f"{label}: cluster {ident} was already running before `up`; left running"]
    logger.info("stopping PostgreSQL %s", ident)
    cmd = ["pg_ctlcluster", "--mode", "fast", cluster.version, cluster.name, "stop"]
    run(privileged(cmd), what=f"stopping PostgreSQL {ident}", timeout=120)
    path.unlink(missing_ok=True)
    return [f"{label}: stopped cluster {ident} (port {cluster.port})"]


def describe(profile: Profile, root: Path) -> list[str]:
    label = f"postgres [{profile.name}]"
    cluster = find_cluster(profile.pg_cluster)
    if cluster is None:
        return [f"{label}: not running (cluster {profile.pg_cluster} not created yet)"]
    ident = f"{cluster.version}/{cluster.name}"
    files = [f"  data: {cluster.data_dir}", f"  log: {cluster.log_file}"]
    if not cluster.online:
        return [f"{label}: not running (cluster {ident}, port {cluster.port})", *files]
    ours = _read_state(state_file(profile, root)).get("started_by_us") is True
    accepting = "accepting connections" if is_ready(cluster.port) else "NOT accepting connections"
    return [
        f"{label}: running, cluster {ident}, 127.0.0.1:{cluster.port}, {accepting}, "
        f"started by this project: {'yes' if ours else 'no'}",
        f"  url: {profile.database_server_url}",
        *files,
    ]
