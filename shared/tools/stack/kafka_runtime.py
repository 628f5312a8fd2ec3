"""What running Kafka needs: a Java >= 17 and the broker jars from Maven Central."""

from __future__ import annotations

import logging
import os
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

from shared.tools.stack.errors import StackError
from shared.tools.stack.processes import run

logger = logging.getLogger(__name__)

POM = Path("deploy/local/kafka/pom.xml")
LOG4J2_CONFIG = Path("deploy/local/kafka/log4j2.properties")
MIN_JAVA = 17
_MAVEN_NS = "{http://maven.apache.org/POM/4.0.0}"


def kafka_version(root: Path) -> str:
    """The `kafka.version` property pinned in the project's pom."""
    pom = root / POM
    try:
        tree = ET.parse(pom)
    except (OSError, ET.ParseError) as exc:
        raise StackError(f"cannot read the Kafka pom {pom}: {exc}") from exc
    node = tree.find(f"{_MAVEN_NS}properties/{_MAVEN_NS}kafka.version")
    if node is None or not (node.text or "").strip():
        raise StackError(f"{pom} has no <kafka.version> property")
    return (node.text or "").strip()


def java_executable() -> str:
    """JAVA_HOME's java if set, else the one on PATH."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    found = shutil.which("java")
    if found is None:
        raise StackError(
            f"Java {MIN_JAVA}+ is needed to run Kafka but `java` is not on PATH "
            "(on Debian: apt-get install -y openjdk-17-jre-headless)"
        )
    return found


def check_java(java: str) -> int:
    """Return Java's major version; raise unless it is at least 17."""
    output = run([java, "-version"], what="checking the Java version", timeout=60)
    text = output.stderr + output.stdout
    match = re.search(r'version "(\d+)(?:\.(\d+))?', text)
    if match is None:
        raise StackError(f"cannot tell the Java version from `{java} -version`: {text!r}")
    major = int(match.group(1))
    if major == 1 and match.group(2):  # "1.8.0_402" style
        major = int(match.group(2))
    if major < MIN_JAVA:
        raise StackError(f"Kafka 4 needs Java {MIN_JAVA}+, but {java} is Java {major}")
    return major


def ensure_jars(root: Path, libs: Path) -> None:
    """Fetch the broker's runtime jars into `libs` unless this version is there.

    Maven copies into a staging folder that replaces `libs` only once
    complete, so an interrupted download or a version bump never leaves a
    mixed classpath behind.
    """
    version = kafka_version(root)
    marker = f"kafka_2.13-{version}.jar"
    if (libs / marker).is_file():
        return
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError(
            f"Kafka {version} jars are missing from {libs} and Maven is not installed "
            "to fetch them (on Debian: apt-get install -y maven)"
        )
    staging = libs.with_name(libs.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.parent.mkdir(parents=True, exist_ok=True)
    logger.info("fetching Kafka %s jars with Maven into %s (one-off)", version, libs)
    run(
        [
            mvn,
            "-B",
            "-q",
            "-f",
            str(root / POM),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={staging}",
            "-DincludeScope=runtime",
        ],
        what=f"fetching Kafka {version} jars with Maven",
        timeout=1800,
    )
    if not (staging / marker).is_file():
        raise StackError(f"Maven finished but {staging / marker} is missing")
    shutil.rmtree(libs, ignore_errors=True)
    staging.rename(libs)
