"""PostgreSQL from Debian packages: find the installed version, install if
missing, and list clusters with `pg_lsclusters` (postgresql-common)."""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from shared.tools.stack.errors import StackError
from shared.tools.stack.processes import privileged, run

logger = logging.getLogger(__name__)

PG_LIB = Path("/usr/lib/postgresql")
_APT_ENV = ["env", "DEBIAN_FRONTEND=noninteractive"]
_APT_OPTS = ["-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold"]


@dataclass(frozen=True)
class Cluster:
    version: str
    name: str
    port: int
    online: bool
    data_dir: str
    log_file: str


def installed_version() -> str | None:
    """The newest PostgreSQL major version with a server binary installed."""
    if not PG_LIB.is_dir():
        return None
    versions = [d.name for d in PG_LIB.iterdir() if (d / "bin" / "postgres").is_file()]
    numeric = [v for v in versions if v.replace(".", "").isdigit()]
    return max(numeric, key=lambda v: [int(part) for part in v.split(".")], default=None)


def _tools_present() -> bool:
    return all(shutil.which(tool) for tool in ("pg_createcluster", "pg_ctlcluster"))


def ensure_installed() -> str:
    """Return the PostgreSQL major version, installing it with apt-get if needed."""
    version = installed_version()
    if version is not None and _tools_present():
        return version
    if shutil.which("apt-get") is None:
        raise StackError(
            "PostgreSQL (server + postgresql-common) is not installed and there is no "
            "apt-get to install it; install it by hand, then run `up` again"
        )
    logger.info("installing PostgreSQL with apt-get (one-off, a few minutes)")
    run(privileged([*_APT_ENV, "apt-get", "update"]), what="apt-get update", timeout=600)
    install = [*_APT_ENV, "apt-get", "install", "-y", "--no-install-recommends", *_APT_OPTS]
    run(privileged([*install, "postgresql"]), what="installing PostgreSQL", timeout=1200)
    if shutil.which("kcat") is None:
        try:  # an ops convenience only; its absence must not block the stack
            run(privileged([*install, "kcat"]), what="installing kcat", timeout=600)
        except StackError as exc:
            logger.warning("could not install kcat (continuing without it): %s", exc)
    version = installed_version()
    if version is None or not _tools_present():
        raise StackError("apt-get installed postgresql but no server binary or pg tools found")
    return version


def list_clusters() -> list[Cluster]:
    """All clusters postgresql-common knows about, of every version."""
    if shutil.which("pg_lsclusters") is None:
        return []
    output = run(["pg_lsclusters", "-h"], what="listing PostgreSQL clusters", timeout=60)
    clusters = []
    for line in output.stdout.splitlines():
        fields = line.split()
        if len(fields) < 6 or not fields[2].isdigit():
            continue
        clusters.append(
            Cluster(
                version=fields[0],
                name=fields[1],
                port=int(fields[2]),
                online=fields[3].startswith("online"),
                data_dir=fields[5],
                log_file=fields[6] if len(fields) > 6 else "(syslog)",
            )
        )
    return clusters


def find_cluster(name: str) -> Cluster | None:
    """The cluster with this name, the newest version if several exist."""
    matches = [c for c in list_clusters() if c.name == name]
    if not matches:
        return None
    return max(matches, key=lambda c: [int(part) for part in c.version.split(".")])


def ensure_conf_file(cluster: Cluster, name: str, content: str) -> bool:
    """Put `content` in the cluster's conf.d/<name>; True if the file changed.

    Debian's postgresql.conf ends with `include_dir = 'conf.d'`, so these
    settings win over the main file. (pg_conftool and pg_createcluster -o
    cannot write a quoted value like listen_addresses = '127.0.0.1'.)
    """
    target = Path("/etc/postgresql") / cluster.version / cluster.name / "conf.d" / name
    try:
        if target.read_text() == content:
            return False
    except OSError:
        pass
    with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as handle:
        handle.write(content)
    try:
        owner = ["-o", "postgres", "-g", "postgres", "-m", "644"]
        cmd = ["install", *owner, handle.name, str(target)]
        run(privileged(cmd), what=f"writing {target}")
    finally:
        Path(handle.name).unlink(missing_ok=True)
    logger.info("wrote %s", target)
    return True
