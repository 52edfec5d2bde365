"""deploy/kubernetes/ runs what deploy/compose.yaml runs: the same server and worker commands
(the services named as Kubernetes names them), the port and health route the server serves,
the token and the database password as mounted Secrets, the image's user, and a Job whose
pods share the study. No cluster runs here: the manifests are read with PyYAML (and rendered
by ``kubectl kustomize`` where kubectl is installed)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_files import DEPLOY, command_of, load_compose, option

from pipetune.cli import build_parser

MANIFESTS = DEPLOY / "kubernetes"
# Compose's service names and Kubernetes' Services for the same processes.
RENAMED = {"postgres:5432": "pipetune-postgres:5432", "server:8080": "pipetune-server:8080",
           "--allowed-host server": "--allowed-host pipetune-server"}


def _objects() -> dict[tuple[str, str], dict[str, Any]]:
    objects = {}
    for path in sorted(MANIFESTS.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for document in yaml.safe_load_all(path.read_text()):
            objects[(document["kind"], document["metadata"]["name"])] = document
    return objects


def _container(objects: dict, kind: str, name: str) -> dict[str, Any]:
    (container,) = objects[(kind, name)]["spec"]["template"]["spec"]["containers"]
    return container


def _as_kubernetes(command: list[str]) -> list[str]:
    joined = "\n".join(command)
    for compose_name, kubernetes_name in RENAMED.items():
        joined = joined.replace(compose_name.replace(" ", "\n"),
                                kubernetes_name.replace(" ", "\n"))
    return joined.split("\n")


def test_the_manifests_hold_a_server_workers_and_a_database() -> None:
    objects = _objects()
    assert objects[("Deployment", "pipetune-server")]["spec"]["replicas"] == 1
    assert ("Service", "pipetune-server") in objects
    assert ("StatefulSet", "pipetune-postgres") in objects
    job = objects[("Job", "pipetune-worker")]["spec"]
    assert job["parallelism"] >= 2
    # No completions: the Job is done when one pod succeeds (the budget is spent) and the
    # others have ended, the work-queue pattern of pods sharing one queue.
    assert "completions" not in job
    assert job["template"]["spec"]["restartPolicy"] == "OnFailure"
    listed = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == sorted(p.name for p in MANIFESTS.glob("*.yaml")
                                    if p.name != "kustomization.yaml")


def test_the_server_and_workers_run_the_compose_files_commands() -> None:
    services = load_compose("compose.yaml")["services"]
    objects = _objects()
    for kind, name, service in (("Deployment", "pipetune-server", "server"),
                                ("Job", "pipetune-worker", "worker")):
        container = _container(objects, kind, name)
        # args, not command: a command would replace the image's entrypoint, tini
        assert "command" not in container
        assert container["args"] == _as_kubernetes(command_of(services[service]))
        parsed = build_parser().parse_args(container["args"][1:])
        assert parsed.handler.__name__ == f"cmd_{service}"
    worker = _container(objects, "Job", "pipetune-worker")
    assert worker["env"] == [{"name": "PIPETUNE_TOKEN_FILE",
                              "value": "/run/secrets/pipetune_token"}]


def test_the_server_port_service_and_probes_agree_with_the_cli() -> None:
    objects = _objects()
    server = _container(objects, "Deployment", "pipetune-server")
    (port,) = server["ports"]
    assert str(port["containerPort"]) == option(server["args"], "--port") == "8080"
    (service_port,) = objects[("Service", "pipetune-server")]["spec"]["ports"]
    assert service_port["targetPort"] == port["name"] and service_port["port"] == 8080
    assert option(_container(objects, "Job", "pipetune-worker")["args"], "--storage") == \
        f"http://pipetune-server:{service_port['port']}"
    for probe in ("readinessProbe", "livenessProbe"):
        check = server[probe]["httpGet"]
        assert check["path"] == "/api/v1/health" and check["port"] == port["name"]
        # The kubelet's Host header is the pod's address, which --allowed-host refuses.
        assert {"name": "Host", "value": "localhost"} in check["httpHeaders"]
    labels = objects[("Deployment", "pipetune-server")]["spec"]["template"]["metadata"]
    assert objects[("Service", "pipetune-server")]["spec"]["selector"].items() <= \
        labels["labels"].items()


def test_secrets_are_mounted_where_the_commands_read_them() -> None:
    objects = _objects()
    for kind, name in (("Deployment", "pipetune-server"), ("Job", "pipetune-worker"),
                       ("StatefulSet", "pipetune-postgres")):
        pod = objects[(kind, name)]["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        secrets = {v["name"]: v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
        mounted = {m["mountPath"]: secrets[m["name"]] for m in container["volumeMounts"]
                   if m["name"] in secrets}
        words = container.get("args", []) + [e["value"] for e in container.get("env", [])]
        read = {word.split("?password_file=")[-1] for word in words if "/run/secrets/" in word}
        assert read and read <= set(mounted), f"{name} reads {read}, mounts {mounted}"
        for value in words:
            assert "password=" not in value
    server_secrets = {v["secret"]["secretName"] for v in objects[(
        "Deployment", "pipetune-server")]["spec"]["template"]["spec"]["volumes"] if "secret" in v}
    worker_secrets = {v["secret"]["secretName"] for v in objects[(
        "Job", "pipetune-worker")]["spec"]["template"]["spec"]["volumes"] if "secret" in v}
    assert server_secrets == {"pipetune-token", "pipetune-postgres"}
    assert worker_secrets == {"pipetune-token"}  # workers never see the database password


def test_pods_run_as_the_images_user_and_stop_within_their_grace_period() -> None:
    objects = _objects()
    for kind, name in (("Deployment", "pipetune-server"), ("Job", "pipetune-worker")):
        pod = objects[(kind, name)]["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 10001  # the Dockerfile's useradd
        assert pod["containers"][0]["securityContext"]["allowPrivilegeEscalation"] is False
    worker = _container(objects, "Job", "pipetune-worker")
    grace = objects[("Job", "pipetune-worker")]["spec"]["template"]["spec"][
        "terminationGracePeriodSeconds"]
    assert grace > float(option(worker["args"], "--stop-timeout"))


def test_kubectl_renders_the_kustomization(tmp_path: Path) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("No kubectl here: the manifests are checked by the other tests of this "
                    "module instead.")
    rendered = subprocess.run([kubectl, "kustomize", str(MANIFESTS)], capture_output=True,
                              text=True, timeout=60)
    assert rendered.returncode == 0, rendered.stderr
    images = {c["image"] for d in yaml.safe_load_all(rendered.stdout)
              if d["kind"] in ("Deployment", "Job", "StatefulSet")
              for c in d["spec"]["template"]["spec"]["containers"]}
    assert images == {"registry.example.org/pipetune-server:0.1.0",
                      "registry.example.org/pipetune-worker:0.1.0", "postgres:16.6-bookworm"}
