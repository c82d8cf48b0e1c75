"""The deployment manifests validate offline against schemas shipped in packages.

- Kubernetes objects: ``kubernetes-validate`` (the API server's OpenAPI schemas, strict: an
  unknown field fails);
- the KEDA ``ScaledObject``: the pydantic models of ``cloudcoil-models-keda`` (generated from
  KEDA's CRDs), with a round trip that fails on fields the CRD does not have;
- ``deploy/compose.yaml``: the Compose specification's JSON Schema vendored in
  ``check-jsonschema``;
- ``deploy/Dockerfile``: parsed by BuildKit's own parser (``dockerfile``), every COPY source
  exists.

No Docker engine or cluster runs here: images are not built and nothing is applied.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S_VERSION = "1.33.0"


def _k8s_docs() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        out.extend((path.name, doc) for doc in yaml.safe_load_all(path.read_text()) if doc)
    return out


def _by_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for _, doc in _k8s_docs() if doc["kind"] == kind]


def _settings_vars() -> set[str]:
    """Every INFERSIGHT_* variable the Settings model reads (sections one level deep)."""
    from pydantic import BaseModel

    from streams.settings import Settings

    names = set()
    for name, info in Settings.model_fields.items():
        section = info.annotation
        if isinstance(section, type) and issubclass(section, BaseModel):
            names.update(f"INFERSIGHT_{name}_{sub}".upper() for sub in section.model_fields)
        else:
            names.add(f"INFERSIGHT_{name}".upper())
    return names


def _strip_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip_none(v) for v in value]
    return value


@pytest.mark.parametrize(
    "name,doc", [(n, d) for n, d in _k8s_docs() if d["apiVersion"] != "keda.sh/v1alpha1"],
    ids=lambda x: x if isinstance(x, str) else f"{x['kind']}/{x['metadata']['name']}",
)  # fmt: skip
def test_kubernetes_manifest_validates_against_the_api_schema(name: str, doc: dict) -> None:
    """Each Kubernetes object is valid for the API (strict: unknown fields fail)."""
    import kubernetes_validate

    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_strict_kubernetes_validation_rejects_an_unknown_field() -> None:
    """The validator is not a no-op: a misspelt probe field fails."""
    import kubernetes_validate

    [deploy] = _by_kind("Deployment")
    broken = json.loads(json.dumps(deploy))
    container = broken["spec"]["template"]["spec"]["containers"][0]
    container["readinessProbe"]["httpGet"]["paht"] = "/readyz"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def test_keda_scaled_object_matches_the_crd_and_scales_to_the_partition_count() -> None:
    """The ScaledObject round-trips through KEDA's models unchanged, targets the worker
    Deployment, scales on the group's lag on the inference topic, max replicas = partitions."""
    from cloudcoil.models.keda.v1alpha1 import ScaledObject

    [so] = _by_kind("ScaledObject")
    model = ScaledObject.model_validate(so)
    assert _strip_none(model.model_dump(by_alias=True, exclude_none=True)) == so
    typo = {**so, "spec": {**so["spec"], "maxReplicas": 3}}  # not a KEDA field: dropped
    assert ScaledObject.model_validate(typo).model_dump(by_alias=True, exclude_none=True) != typo
    [deploy] = _by_kind("Deployment")
    [config] = _by_kind("ConfigMap")
    assert so["spec"]["scaleTargetRef"]["name"] == deploy["metadata"]["name"]
    assert so["spec"]["maxReplicaCount"] == int(config["data"]["INFERSIGHT_KAFKA_PARTITIONS"])
    [trigger] = so["spec"]["triggers"]
    assert trigger["type"] == "kafka"
    assert trigger["metadata"]["consumerGroup"] == config["data"]["INFERSIGHT_APP_ID"]
    assert trigger["metadata"]["topic"] == "llm.inference.v1"
    assert trigger["metadata"]["bootstrapServers"] == config["data"]["INFERSIGHT_KAFKA_BOOTSTRAP"]


def test_worker_deployment_has_probes_resources_config_and_a_pdb() -> None:
    """Liveness on /healthz, readiness on /readyz, requests set, env from the ConfigMap and
    Secret; the PDB and the Service select the worker pods."""
    [deploy] = _by_kind("Deployment")
    pod = deploy["spec"]["template"]
    [c] = pod["spec"]["containers"]
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["resources"]["requests"]["cpu"] and c["resources"]["requests"]["memory"]
    refs = {(k, v["name"]) for e in c["envFrom"] for k, v in e.items()}
    assert refs == {("configMapRef", "infersight"), ("secretRef", "infersight")}
    labels = pod["metadata"]["labels"]
    for kind in ("PodDisruptionBudget", "Service"):
        [obj] = _by_kind(kind)
        selector = obj["spec"]["selector"]
        selector = selector.get("matchLabels", selector)
        assert selector.items() <= labels.items(), kind
    [job] = _by_kind("Job")
    [mc] = job["spec"]["template"]["spec"]["containers"]
    assert "infersight db migrate" in " ".join(mc["command"])


def test_every_configured_variable_is_a_setting() -> None:
    """A misspelt INFERSIGHT_* variable would be ignored silently: each one is a real field."""
    known = _settings_vars()
    [config] = _by_kind("ConfigMap")
    [secret] = _by_kind("Secret")
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    used = set(config["data"]) | set(secret["stringData"])
    for svc in compose["services"].values():
        used |= {k for k in svc.get("environment", {}) if k.startswith("INFERSIGHT_")}
    used -= {"INFERSIGHT_CLICKHOUSE_HOST", "INFERSIGHT_CLICKHOUSE_HTTP_PORT",
             "INFERSIGHT_ANALYST_PASSWORD"}  # Grafana's provisioning variables  # fmt: skip
    assert used - known == set()


def test_compose_file_validates_against_the_compose_spec() -> None:
    """deploy/compose.yaml is valid Compose; a typo in a key fails the same check."""
    import jsonschema

    # Read as data: importing check_jsonschema loads its CLI, which needs a newer click.
    spec = importlib.util.find_spec("check_jsonschema")
    assert spec is not None and spec.submodule_search_locations
    package = Path(spec.submodule_search_locations[0])
    schema = json.loads((package / "builtin_schemas/vendor/compose-spec.json").read_text())
    doc = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(doc)]
    assert errors == []
    broken = json.loads(json.dumps(doc))
    broken["services"]["worker"]["depends_on"]["init"]["conditon"] = "x"
    assert list(validator.iter_errors(broken))


def test_compose_runs_kraft_kafka_clickhouse_workers_grafana_and_an_init_step() -> None:
    """The services the operator expects, wired in order, mounts that exist in the repo."""
    doc = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    svc = doc["services"]
    assert set(svc) == {"kafka", "clickhouse", "init", "worker", "grafana"}
    assert svc["kafka"]["image"].startswith("apache/kafka:")
    assert "controller" in svc["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]  # KRaft
    assert svc["clickhouse"]["image"].startswith("clickhouse/clickhouse-server:")
    assert svc["init"]["build"]["dockerfile"] == "deploy/Dockerfile"
    assert "infersight db migrate" in svc["init"]["command"][0]
    assert "infersight topics create" in svc["init"]["command"][0]
    assert svc["worker"]["depends_on"]["init"]["condition"] == "service_completed_successfully"
    assert svc["worker"]["deploy"]["replicas"] >= 2
    assert svc["worker"]["environment"]["INFERSIGHT_CLICKHOUSE_URL"].startswith("http://clickhouse")
    partitions = int(svc["worker"]["environment"]["INFERSIGHT_KAFKA_PARTITIONS"])
    assert svc["worker"]["deploy"]["replicas"] <= partitions
    for service in svc.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).resolve().exists(), volume
    assert "grafana-clickhouse-datasource" in svc["grafana"]["environment"]["GF_INSTALL_PLUGINS"]
    dashboards = list((DEPLOY / "grafana" / "dashboards").glob("*.json"))
    assert dashboards and all(json.loads(p.read_text())["panels"] for p in dashboards)


def test_dockerfile_parses_installs_cpu_torch_and_the_project() -> None:
    """BuildKit's parser reads it; torch 2.13.0 comes from the CPU index before the project
    is installed from pyproject.toml; every COPY source exists; the image runs the worker."""
    import dockerfile

    cmds = dockerfile.parse_file(str(DEPLOY / "Dockerfile"))
    kinds = [c.cmd for c in cmds]
    assert kinds[0] == "FROM" and cmds[0].value[0].startswith("python:3.11")
    runs = [c.value[0] for c in cmds if c.cmd == "RUN"]
    torch = next(i for i, r in enumerate(runs) if "torch==2.13.0" in r)
    assert "download.pytorch.org/whl/cpu" in runs[torch]
    project = next(i for i, r in enumerate(runs) if "pip install ." in r)
    assert torch < project
    pins = (ROOT / "pyproject.toml").read_text()
    assert '"torch==2.13.0"' in pins  # the same pin the image installs
    for c in cmds:
        if c.cmd == "COPY":
            for src in c.value[:-1]:
                assert (ROOT / src).exists(), src
    assert [c.value for c in cmds if c.cmd == "ENTRYPOINT"] == [("infersight",)]
    assert [c.value for c in cmds if c.cmd == "CMD"] == [("worker",)]
    assert "USER" in kinds and "HEALTHCHECK" in kinds
