"""The deployment files (deploy/k8s, docker-compose.yml) agree with the code they run.

YAML that parses can still break a deployment without a word: Settings ignores
unknown variables, so a misspelt name is silently a default (the setup Job would
migrate a database at 127.0.0.1); a command the CLI refuses, a probe on another
port, a Service selecting no pod, a Secret key that the documented Secret lacks,
a secret value committed to the kustomization. These tests read the files as a
cluster would get them (without kubectl) and check each against shared/.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import AliasChoices

from shared.runtime.__main__ import COMMAND as RUNTIME
from shared.runtime.__main__ import build_parser
from shared.runtime.settings import SERVICES, Settings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
SECRET_EXAMPLE = K8S / "secret.example.yaml"

Doc = dict[str, Any]

# Read by libraries rather than Settings (libpq-style TLS for asyncpg, OpenSSL's CA file);
# the deploy README tells operators to set them.
LIBRARY_VARIABLES = {"PGSSLMODE", "PGSSLROOTCERT", "SSL_CERT_FILE"}

CODE_SECRETS = {
    "STORECREDIT_CODE_HASH_KEY",
    "STORECREDIT_CODE_HASH_PREVIOUS_KEYS",
    "STORECREDIT_CODE_SEAL_PRIVATE_KEY",
    "STORECREDIT_CODE_SEAL_PUBLIC_KEY",
}
CODE_SECRETS_NEEDED = {
    "store_credit": {"STORECREDIT_CODE_HASH_KEY", "STORECREDIT_CODE_SEAL_PRIVATE_KEY"},
}
"""The order service passes codes on sealed, as the shop sealed them: it needs no key."""
CODE_SEAL_PUBLIC_KEY = "STORECREDIT_CODE_SEAL_PUBLIC_KEY"
COMPOSE_HOST_PORTS = {"ledger": 9181, "store_credit": 9182, "order": 9183, "fulfillment": 9184}
PROCESSES = (*SERVICES, "gateway")
"""What the Deployments run: the four services and the HTTP gateway."""


def database_url_variable(service: str) -> str:
    return f"{service.upper()}_DATABASE_URL"


def load_documents(path: Path) -> list[Doc]:
    with path.open() as stream:
        return [doc for doc in yaml.safe_load_all(stream) if doc is not None]


@cache
def kustomization() -> Doc:
    documents = load_documents(K8S / "kustomization.yaml")
    assert len(documents) == 1
    return documents[0]


@cache
def manifests() -> tuple[Doc, ...]:
    """Every object the kustomization renders (before kustomize's own transformations)."""
    found: list[Doc] = []
    for resource in kustomization()["resources"]:
        found.extend(load_documents(K8S / resource))
    return tuple(found)


def of_kind(kind: str) -> list[Doc]:
    return [doc for doc in manifests() if doc["kind"] == kind]


@cache
def compose() -> Doc:
    documents = load_documents(ROOT / "docker-compose.yml")
    assert len(documents) == 1
    return documents[0]


def compose_storecredit_services() -> dict[str, Doc]:
    """The compose services that run the project's image (not Kafka, not PostgreSQL)."""
    return {
        name: service
        for name, service in compose()["services"].items()
        if service.get("command", [])[: len(RUNTIME)] == RUNTIME
    }


@cache
def setting_variables() -> frozenset[str]:
    """The environment variable names Settings reads (each field's upper-case alias)."""
    names: set[str] = set()
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        assert isinstance(alias, AliasChoices), field
        names.update(str(choice) for choice in alias.choices if str(choice).isupper())
    return frozenset(names)


def parse_command(command: list[str]) -> argparse.Namespace:
    """A container runs the runtime's own command line (the image has no tools)."""
    assert command[: len(RUNTIME)] == RUNTIME, command
    try:
        return build_parser().parse_args(command[len(RUNTIME) :])
    except SystemExit as refused:
        pytest.fail(f"`{' '.join(command)}` is refused by the runtime's CLI ({refused.code})")


def pod_spec(workload: Doc) -> Doc:
    spec: Doc = workload["spec"]["template"]["spec"]
    return spec


def containers(workload: Doc) -> list[Doc]:
    spec = pod_spec(workload)
    return [*spec.get("initContainers", []), *spec["containers"]]


def workloads() -> Iterator[Doc]:
    yield from of_kind("Deployment")
    yield from of_kind("Job")


def config_map(name: str) -> Doc:
    matches = [doc for doc in of_kind("ConfigMap") if doc["metadata"]["name"] == name]
    assert matches, f"no ConfigMap {name!r} in the kustomization"
    return matches[0]


def env_names(container: Doc) -> set[str]:
    names = {entry["name"] for entry in container.get("env", [])}
    for source in container.get("envFrom", []):
        assert "configMapRef" in source, f"envFrom other than a ConfigMap: {source}"
        names.update(config_map(source["configMapRef"]["name"]).get("data", {}))
    return names


def secret_refs(container: Doc) -> dict[str, Doc]:
    """Variable name -> its secretKeyRef."""
    return {
        entry["name"]: entry["valueFrom"]["secretKeyRef"]
        for entry in container.get("env", [])
        if "secretKeyRef" in entry.get("valueFrom", {})
    }


@cache
def example_secrets() -> dict[str, set[str]]:
    """Secret name -> its keys, as secret.example.yaml documents them."""
    secrets: dict[str, set[str]] = {}
    for doc in load_documents(SECRET_EXAMPLE):
        assert doc["kind"] == "Secret"
        assert doc["metadata"]["namespace"] == kustomization()["namespace"]
        secrets[doc["metadata"]["name"]] = {*doc.get("stringData", {}), *doc.get("data", {})}
    return secrets


@cache
def deployments_by_service() -> dict[str, Doc]:
    """Each Deployment by what it runs: a service's name, or ``gateway``."""
    found: dict[str, Doc] = {}
    for deployment in of_kind("Deployment"):
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        args = parse_command(container["command"])
        assert args.command in ("service", "gateway"), deployment["metadata"]["name"]
        runs = args.name if args.command == "service" else "gateway"
        assert runs not in found, f"two Deployments run {runs}"
        found[runs] = deployment
    return found


def http_port(process: str = "ledger") -> int:
    if process == "gateway":
        return int(config_map("gateway-config")["data"]["STORECREDIT_GATEWAY_PORT"])
    return int(config_map("storecredit-config")["data"]["STORECREDIT_HTTP_PORT"])


def test_the_kustomization_lists_files_that_exist_and_no_secret_values() -> None:
    resources = kustomization()["resources"]
    for resource in resources:
        assert (K8S / resource).is_file(), f"kustomization.yaml lists missing {resource}"
    assert SECRET_EXAMPLE.name not in resources
    assert "secretGenerator" not in kustomization()
    for doc in manifests():
        if doc["kind"] == "Secret":
            assert not doc.get("data") and not doc.get("stringData"), doc["metadata"]["name"]


def test_the_image_override_applies_to_every_container() -> None:
    """An `images:` entry whose name matches no container changes nothing, silently."""
    overridable = {entry["name"] for entry in kustomization()["images"]}
    for workload in workloads():
        for container in containers(workload):
            assert container["image"].rsplit(":", 1)[0] in overridable, container["name"]


def test_every_variable_set_is_one_the_code_reads() -> None:
    known = setting_variables() | LIBRARY_VARIABLES
    set_where: dict[str, set[str]] = {}
    for workload in workloads():
        for container in containers(workload):
            set_where[f"k8s {workload['metadata']['name']}"] = env_names(container)
    for secret, keys in example_secrets().items():
        set_where[f"secret.example.yaml {secret}"] = keys
    for name, service in compose_storecredit_services().items():
        set_where[f"compose {name}"] = set(service["environment"])
    for where, names in set_where.items():
        assert names <= known, f"{where} sets variables no setting reads: {names - known}"


def test_every_command_is_a_real_runtime_command() -> None:
    for workload in workloads():
        for container in containers(workload):
            parse_command(container["command"])
    for service in compose_storecredit_services().values():
        parse_command(service["command"])


def test_the_setup_job_runs_setup_with_every_database() -> None:
    (job,) = of_kind("Job")
    (container,) = pod_spec(job)["containers"]
    assert parse_command(container["command"]).command == "setup"
    names = env_names(container)
    missing = {database_url_variable(s) for s in SERVICES} - names
    assert not missing or "DATABASE_URL" in names, f"setup would not find {missing}"
    assert "KAFKA_BOOTSTRAP_SERVERS" in names
    assert not CODE_SECRETS & names, "setup needs no code keys"
    assert pod_spec(job)["restartPolicy"] in ("Never", "OnFailure")
    assert job["spec"].get("parallelism", 1) == 1, "two migrations of one database may clash"


def test_every_service_and_the_gateway_have_a_deployment_that_runs_it() -> None:
    assert set(deployments_by_service()) == set(PROCESSES)


@pytest.mark.parametrize("service", PROCESSES)
def test_a_deployment_probes_its_http_port(service: str) -> None:
    deployment = deployments_by_service()[service]
    (container,) = pod_spec(deployment)["containers"]
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    port = http_port(service)
    assert ports == {"http": port}
    names = env_names(container)
    if service == "gateway":
        assert {"STORECREDIT_GATEWAY_HOST", "STORECREDIT_GATEWAY_PORT"} <= names
        assert config_map("gateway-config")["data"]["STORECREDIT_GATEWAY_HOST"] == "0.0.0.0"
    else:
        assert {"STORECREDIT_HTTP_HOST", "STORECREDIT_HTTP_PORT"} <= names
        assert config_map("storecredit-config")["data"]["STORECREDIT_HTTP_HOST"] == "0.0.0.0"
    for probe, path in (("livenessProbe", "/health/live"), ("readinessProbe", "/health/ready")):
        http_get = container[probe]["httpGet"]
        assert http_get["path"] == path
        assert http_get["port"] in ("http", port), probe
    if "startupProbe" in container:
        assert container["startupProbe"]["httpGet"]["port"] in ("http", port)


@pytest.mark.parametrize("service", PROCESSES)
def test_a_deployment_runs_unprivileged_and_stops_gracefully(service: str) -> None:
    spec = pod_spec(deployments_by_service()[service])
    (container,) = spec["containers"]
    pod_security, security = spec["securityContext"], container["securityContext"]
    assert pod_security["runAsNonRoot"] is True
    assert pod_security["runAsUser"] == 10001
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"]["drop"] == ["ALL"]
    assert spec["terminationGracePeriodSeconds"] >= 30
    for bound in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][bound]), bound


def test_the_image_user_is_the_one_the_pods_run_as() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^USER 10001(:10001)?$", dockerfile, re.MULTILINE)
    assert "--uid 10001" in dockerfile


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_gets_its_own_secrets_only(service: str) -> None:
    (container,) = pod_spec(deployments_by_service()[service])["containers"]
    refs = secret_refs(container)
    databases = {name for name in refs if name.endswith("DATABASE_URL")}
    assert databases == {database_url_variable(service)}
    needed = CODE_SECRETS_NEEDED.get(service, set())
    codes = {name for name in refs if name in CODE_SECRETS}
    assert needed <= codes
    assert not codes - needed - {"STORECREDIT_CODE_HASH_PREVIOUS_KEYS"}, codes - needed
    if "STORECREDIT_CODE_HASH_PREVIOUS_KEYS" in codes:
        assert service == "store_credit"
    for name in needed | databases:
        assert not refs[name].get("optional", False), f"{name} is required by {service}"


def test_the_gateway_gets_its_keys_and_no_database_or_code_secret() -> None:
    (container,) = pod_spec(deployments_by_service()["gateway"])["containers"]
    refs = secret_refs(container)
    assert not {name for name in refs if name.endswith("DATABASE_URL")}
    assert not (set(refs) | env_names(container)) & (CODE_SECRETS - {CODE_SEAL_PUBLIC_KEY})
    assert CODE_SEAL_PUBLIC_KEY in env_names(container), "it seals codes typed in browsers"
    required = {
        "STORECREDIT_ACTOR_KEYS",
        "STORECREDIT_GATEWAY_API_KEYS",
        "STORECREDIT_GATEWAY_OPERATION_KEY",
    }
    assert required <= set(refs)
    for name in required:
        assert not refs[name].get("optional", False), name


def test_every_secret_reference_names_a_documented_key() -> None:
    """A required key missing from the Secret keeps the pod in CreateContainerConfigError."""
    documented = example_secrets()
    kafka_users = {
        doc["metadata"]["name"]
        for doc in yaml.safe_load_all((K8S / "kafka-users.yaml").read_text())
    }
    for workload in workloads():
        for container in containers(workload):
            for name, ref in secret_refs(container).items():
                if ref["name"] in kafka_users:  # Strimzi's Secret of a KafkaUser
                    assert (name, ref["key"]) == ("KAFKA_SASL_PASSWORD", "password")
                    continue
                assert ref["key"] == name, f"{name} is read from key {ref['key']}"
                if ref.get("optional", False):
                    continue
                assert ref["key"] in documented.get(ref["name"], set()), (
                    f"{workload['metadata']['name']} needs {ref['name']}/{ref['key']}, "
                    "which secret.example.yaml does not show"
                )


@pytest.mark.parametrize("service", PROCESSES)
def test_a_service_has_a_service_and_a_disruption_budget_that_select_it(service: str) -> None:
    deployment = deployments_by_service()[service]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod_labels.items()

    def selects(labels: dict[str, str]) -> bool:
        return bool(labels.items() <= pod_labels.items())

    (kube_service,) = [s for s in of_kind("Service") if selects(s["spec"]["selector"])]
    (port,) = kube_service["spec"]["ports"]
    assert port["name"] == "http" and port["targetPort"] in ("http", http_port(service))
    annotations = kube_service["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == "/metrics"
    assert int(annotations["prometheus.io/port"]) == port["port"]
    budgets = [
        b for b in of_kind("PodDisruptionBudget") if selects(b["spec"]["selector"]["matchLabels"])
    ]
    assert len(budgets) == 1


def test_compose_runs_every_service_with_a_health_check_on_its_port() -> None:
    by_service: dict[str, Doc] = {}
    for service in compose_storecredit_services().values():
        args = parse_command(service["command"])
        if args.command == "service":
            by_service[args.name] = service
    assert set(by_service) == set(SERVICES)
    for name, service in by_service.items():
        environment = service["environment"]
        assert environment["STORECREDIT_HTTP_HOST"] == "0.0.0.0"
        port = int(environment["STORECREDIT_HTTP_PORT"])
        assert service["ports"] == [f"127.0.0.1:{COMPOSE_HOST_PORTS[name]}:{port}"]
        check = " ".join(service["healthcheck"]["test"])
        assert "urllib.request" in check and "curl" not in check
        assert f"127.0.0.1:{port}/health/ready" in check
        assert service["stop_grace_period"] == "30s"


def test_compose_runs_the_gateway_with_a_health_check_and_no_service_secret() -> None:
    (gateway,) = [
        s
        for s in compose_storecredit_services().values()
        if parse_command(s["command"]).command == "gateway"
    ]
    environment = gateway["environment"]
    assert environment["STORECREDIT_GATEWAY_HOST"] == "0.0.0.0"
    port = int(environment["STORECREDIT_GATEWAY_PORT"])
    assert gateway["ports"] == [f"127.0.0.1:{port}:{port}"]
    assert f"127.0.0.1:{port}/health/ready" in " ".join(gateway["healthcheck"]["test"])
    assert not {n for n in environment if n.endswith("DATABASE_URL")}
    assert not set(environment) & (CODE_SECRETS - {CODE_SEAL_PUBLIC_KEY})
    assert "GATEWAY_ACTOR_KEYS" in environment["STORECREDIT_ACTOR_KEYS"]
