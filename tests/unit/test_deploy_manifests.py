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


def test_keda_scaled_object_matches_the_crd_and_scales_within_the_partition_count() -> None:
    """The ScaledObject round-trips through KEDA's models unchanged, targets the worker
    Deployment, scales on the group's lag on the inference topic; at most replicas, a rolling
    update's extra worker still finds a partition of its own (7 workers on 6 partitions: one
    owns none, its /readyz stays 503 and the rollout never ends)."""
    from cloudcoil.models.keda.v1alpha1 import ScaledObject

    [so] = _by_kind("ScaledObject")
    model = ScaledObject.model_validate(so)
    assert _strip_none(model.model_dump(by_alias=True, exclude_none=True)) == so
    typo = {**so, "spec": {**so["spec"], "maxReplicas": 3}}  # not a KEDA field: dropped
    assert ScaledObject.model_validate(typo).model_dump(by_alias=True, exclude_none=True) != typo
    [deploy] = _by_kind("Deployment")
    [config] = _by_kind("ConfigMap")
    assert so["spec"]["scaleTargetRef"]["name"] == deploy["metadata"]["name"]
    surge = deploy["spec"]["strategy"]["rollingUpdate"]["maxSurge"]
    partitions = int(config["data"]["INFERSIGHT_KAFKA_PARTITIONS"])
    assert so["spec"]["maxReplicaCount"] + surge <= partitions
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
    project = next(i for i, r in enumerate(runs) if "pip install '.[onnx]'" in r)
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


# -- what an operator relies on in production ----------------------------------------------
def _docker_cmds() -> list[Any]:
    import dockerfile

    return list(dockerfile.parse_file(str(DEPLOY / "Dockerfile")))


def _docker_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for c in _docker_cmds():
        if c.cmd == "ENV":
            env.update(zip(c.value[::2], c.value[1::2], strict=True))
    return env


def _config() -> dict[str, str]:
    [config] = _by_kind("ConfigMap")
    return dict(config["data"])


def _pod_specs() -> list[tuple[str, dict[str, Any]]]:
    return [(kind, doc["spec"]["template"]["spec"]) for kind in ("Deployment", "Job")
            for doc in _by_kind(kind)]  # fmt: skip


def _window_s(probe: dict[str, Any]) -> int:
    """How long a probe may fail in a row before the kubelet acts on it."""
    return int(probe.get("periodSeconds", 10)) * int(probe.get("failureThreshold", 3))


def test_the_image_installs_every_package_of_the_project() -> None:
    """Each package pyproject.toml installs is COPYed (the image lacked ``alerting/``, which
    ``streams.app`` imports: every worker would have died on start), the onnx extra is in
    (``auto`` precision picks onnx-int8, the figures' precision), and the build imports the
    worker and finds the packaged weights, so a missing one fails the build."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    include = project["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {pattern.rstrip("*") for pattern in include}
    cmds = _docker_cmds()
    copied = {src.rstrip("/") for c in cmds if c.cmd == "COPY" for src in c.value[:-1]}
    assert packages <= copied, packages - copied
    assert "onnx" in project["project"]["optional-dependencies"]
    runs = [c.value[0] for c in cmds if c.cmd == "RUN"]
    assert any("pip install '.[onnx]'" in r for r in runs)
    check = next(r for r in runs if "import" in r and "streams.app" in r)
    assert "model_path()" in check
    assert runs.index(check) > next(i for i, r in enumerate(runs) if ".[onnx]" in r)


def test_the_image_is_pinned_unprivileged_offline_and_keeps_no_secrets() -> None:
    """A patch-pinned base, a numeric non-root USER (the uid the pods run as), unbuffered
    output without bytecode writes, hub libraries offline, nothing secret in ENV, and every
    path the worker writes under one directory (a volume where the root is read-only),
    its working directory included (the image ran the worker in root's /app, where faust
    cannot create its directory: PermissionError at start)."""
    import re

    cmds = _docker_cmds()
    base = cmds[0].value[0]
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", base), base
    [user] = [c.value[0] for c in cmds if c.cmd == "USER"]
    uid = int(user.split(":")[0])
    assert uid > 0
    for kind, pod in _pod_specs():
        assert pod["securityContext"]["runAsUser"] == uid, kind
    env = _docker_env()
    for key in ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "HF_HUB_OFFLINE",
                "TRANSFORMERS_OFFLINE"):  # fmt: skip
        assert env[key] == "1", key
    secretish = re.compile(r"PASSWORD|TOKEN|SECRET|SALT|KEY")
    assert [k for k in env if secretish.search(k)] == []
    home = env["HOME"]
    for key in ("INFERSIGHT_DATA_DIR", "INFERSIGHT_DETECTORS_MODEL_CACHE"):
        assert env[key].startswith(home + "/"), key
    # faust makes `<app id>-data/` in the working directory on first start: not root's /app
    workdir = [c.value[0] for c in cmds if c.cmd == "WORKDIR"][-1]
    assert workdir == home or workdir.startswith(home + "/"), workdir
    user_at = next(i for i, c in enumerate(cmds) if c.cmd == "USER")
    assert max(i for i, c in enumerate(cmds) if c.cmd == "WORKDIR") > user_at
    [health] = [c for c in cmds if c.cmd == "HEALTHCHECK"]
    assert "/healthz" in " ".join(health.value)


def test_the_build_context_leaves_out_the_virtualenv_git_and_env_files() -> None:
    """BuildKit reads ``deploy/Dockerfile.dockerignore`` for this Dockerfile: without it the
    whole repository (the virtualenv, .git, data, an .env with real passwords) is sent to
    the builder. Nothing the Dockerfile COPYs is ignored."""
    from fnmatch import fnmatch

    lines = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    patterns = [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]
    for needed in (".venv", ".git", "data", "**/.env"):
        assert needed in patterns, needed
    for c in _docker_cmds():
        if c.cmd == "COPY":
            for src in c.value[:-1]:
                assert not any(fnmatch(src.rstrip("/"), p) for p in patterns), src


@pytest.mark.parametrize("kind", ["Deployment", "Job"])
def test_pods_are_hardened_and_write_only_to_volumes(kind: str) -> None:
    """Non-root, RuntimeDefault seccomp, no service-account token, no privilege escalation,
    no capabilities, a read-only root filesystem; every path the worker writes (HOME, its
    data directory, the model cache, faust's directory in the working directory, /tmp) is
    on an emptyDir."""
    [pod] = [p for k, p in _pod_specs() if k == kind]
    sc = pod["securityContext"]
    assert sc["runAsNonRoot"] is True and sc["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod["automountServiceAccountToken"] is False
    empty = {v["name"] for v in pod.get("volumes", []) if "emptyDir" in v}
    for c in pod["containers"]:
        csc = c["securityContext"]
        assert csc["allowPrivilegeEscalation"] is False
        assert csc["readOnlyRootFilesystem"] is True
        assert csc["capabilities"]["drop"] == ["ALL"]
        mounts = [m["mountPath"] for m in c.get("volumeMounts", []) if m["name"] in empty]
        writes = ["/tmp"]
        if kind == "Deployment":
            env = {**_docker_env(), **_config()}
            writes += [env[k] for k in ("HOME", "INFERSIGHT_DATA_DIR",
                                        "INFERSIGHT_DETECTORS_MODEL_CACHE")]  # fmt: skip
            workdir = [d.value[0] for d in _docker_cmds() if d.cmd == "WORKDIR"][-1]
            writes.append(c.get("workingDir", workdir))  # faust's `<app id>-data/`
        for path in writes:
            assert any(path == m or path.startswith(m + "/") for m in mounts), (c["name"], path)


def test_shutdown_is_bounded_within_the_grace_periods() -> None:
    """SIGTERM ends a worker within INFERSIGHT_SHUTDOWN_TIMEOUT_S; Kubernetes and docker
    SIGKILL after their grace period, which must outlast it with room for the exit."""
    from streams.settings import Settings

    default = Settings.model_fields["shutdown_timeout_s"].default
    shutdown = float(_config().get("INFERSIGHT_SHUTDOWN_TIMEOUT_S", default))
    [deploy] = _by_kind("Deployment")
    assert deploy["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= shutdown + 10
    worker = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]["worker"]
    compose_shutdown = float(worker["environment"].get("INFERSIGHT_SHUTDOWN_TIMEOUT_S", default))
    assert worker["stop_grace_period"].endswith("s")
    assert float(worker["stop_grace_period"][:-1]) >= compose_shutdown + 10


def test_probes_restart_a_wedged_worker_but_ride_out_an_outage() -> None:
    """Startup covers the model load; readiness (/readyz) acts first; liveness (/healthz:
    503 once stalled for INFERSIGHT_STALL_AFTER_S) waits another 5 minutes, so a ClickHouse
    outage, which stalls every worker at once, does not restart them all in a loop (it
    restarted a stalled worker after 60 s)."""
    [deploy] = _by_kind("Deployment")
    [c] = deploy["spec"]["template"]["spec"]["containers"]
    startup, live, ready = c["startupProbe"], c["livenessProbe"], c["readinessProbe"]
    assert startup["httpGet"]["path"] == live["httpGet"]["path"] == "/healthz"
    assert ready["httpGet"]["path"] == "/readyz"
    measured_start_s = 21.6  # benchmarks.speed.worker_start: fresh model cache, load 3.6
    assert _window_s(startup) >= 5 * measured_start_s
    assert _window_s(live) >= 300
    assert _window_s(ready) < _window_s(live)


def test_keda_owns_the_replica_count_and_the_pdb_never_blocks_on_unready_workers() -> None:
    """No spec.replicas (each apply would reset KEDA's count); at least two workers so the
    PDB's one-at-a-time keeps one scoring during a drain; scale-down one worker at a time;
    unready workers may always be evicted; the lag threshold is worth a new worker's start."""
    [deploy] = _by_kind("Deployment")
    [so] = _by_kind("ScaledObject")
    [pdb] = _by_kind("PodDisruptionBudget")
    assert "replicas" not in deploy["spec"]
    assert so["spec"]["minReplicaCount"] > pdb["spec"]["maxUnavailable"]
    assert pdb["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    down = so["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"]
    assert [p["value"] for p in down["policies"] if p["type"] == "Pods"] == [1]
    [trigger] = so["spec"]["triggers"]
    start_s, events_per_cpu_s = 21.6, 372  # worker_start; throughput_scaling_threads1.md
    assert int(trigger["metadata"]["lagThreshold"]) >= start_s * events_per_cpu_s


def test_secrets_come_from_the_secret_and_nothing_secret_is_in_the_configmap() -> None:
    """The API token (the pods bind 0.0.0.0) and the other secrets are Secret keys, read
    through envFrom by the workers and the migration; the ConfigMap and compose's defaults
    carry only placeholders, never a value that looks real."""
    import re

    [secret] = _by_kind("Secret")
    keys = set(secret["stringData"])
    assert {"INFERSIGHT_API_TOKEN", "INFERSIGHT_CLICKHOUSE_PASSWORD",
            "INFERSIGHT_DETECTORS_HASH_SALT"} <= keys  # fmt: skip
    assert all(v.startswith("CHANGE-ME") for v in secret["stringData"].values())
    secretish = re.compile(r"PASSWORD|TOKEN|SECRET|SALT|KEY")
    assert [k for k in _config() if secretish.search(k)] == []
    for kind, pod in _pod_specs():
        for c in pod["containers"]:
            assert {"secretRef": {"name": "infersight"}} in c["envFrom"], kind
    worker = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]["worker"]
    assert worker["environment"]["INFERSIGHT_API_TOKEN"].startswith("${API_TOKEN")
    assert worker["environment"]["INFERSIGHT_WEB_HOST"] == "0.0.0.0"


def test_metrics_are_scrapable_from_the_pod_and_the_service() -> None:
    """Prometheus annotations name the container's port and /metrics; the Service exposes
    the same named port, for a ServiceMonitor."""
    [deploy] = _by_kind("Deployment")
    [svc] = _by_kind("Service")
    pod = deploy["spec"]["template"]
    [c] = pod["spec"]["containers"]
    [port] = c["ports"]
    notes = pod["metadata"]["annotations"]
    assert notes["prometheus.io/scrape"] == "true" and notes["prometheus.io/path"] == "/metrics"
    assert int(notes["prometheus.io/port"]) == port["containerPort"]
    assert [(p["name"], p["targetPort"]) for p in svc["spec"]["ports"]] == [("http", "http")]
    assert port["name"] == "http"
    assert str(port["containerPort"]) == _config()["INFERSIGHT_WEB_PORT"]


def test_the_migration_job_is_bounded_and_rerun_per_release() -> None:
    """Failed attempts are new pods kept for their logs (restartPolicy Never), a hung one
    ends, the finished Job is cleaned up; the documented release deletes the previous Job
    first (its template is immutable; an unchanged apply would not migrate at all) and
    waits longer than kubectl's 30 s default."""
    [job] = _by_kind("Job")
    spec = job["spec"]
    assert spec["template"]["spec"]["restartPolicy"] == "Never"
    assert 0 < spec["backoffLimit"] <= 5
    assert 0 < spec["activeDeadlineSeconds"] <= 3600
    assert 0 < spec["ttlSecondsAfterFinished"]
    docs = (ROOT / "docs" / "operations.md").read_text()
    delete = docs.index("kubectl delete job/infersight-migrate --ignore-not-found")
    apply = docs.index("kubectl apply -f deploy/k8s/migrate-job.yaml")
    assert delete < apply
    assert "kubectl wait --for=condition=complete --timeout=" in docs


def test_compose_restarts_the_long_running_services() -> None:
    """Kafka, ClickHouse, the workers and Grafana come back after a crash or a host reboot;
    the one-shot init step does not (it would recreate topics in a loop)."""
    svc = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    assert svc["init"]["restart"] == "no"
    for name, service in svc.items():
        if name != "init":
            assert service.get("restart") in ("unless-stopped", "always"), name


def _assign(held: dict[str, list[int]], partitions: int, standby: int) -> dict[str, list[int]]:
    """One rebalance by faust's own (sticky) assignor: who holds which partitions after it,
    given what each member held before (a new member holds none)."""
    from faust.assignor.client_assignment import CopartitionedAssignment
    from faust.assignor.copartitioned_assignor import CopartitionedAssignor

    before = {m: CopartitionedAssignment(actives=set(p), topics={"t"}) for m, p in held.items()}
    after = CopartitionedAssignor(["t"], before, partitions, standby).get_assignment()
    return {m: sorted(a.actives) for m, a in after.items()}


def test_every_worker_keda_adds_and_every_rollout_worker_gets_a_partition() -> None:
    """Simulated with faust's assignor and the worker app's own setting: KEDA adds workers
    one at a time up to maxReplicaCount, and at each count a rolling update's extra worker
    joins; each must own a partition of the inference topic (readiness needs one)."""
    from streams.app import _faust_app
    from streams.settings import Settings

    standby = _faust_app(Settings(kafka={"bootstrap": "localhost:9092"})).conf
    standby = standby.table_standby_replicas
    [so] = _by_kind("ScaledObject")
    partitions = int(_config()["INFERSIGHT_KAFKA_PARTITIONS"])
    held: dict[str, list[int]] = {}
    idle = []
    for n in range(1, so["spec"]["maxReplicaCount"] + 1):
        held = _assign({**held, f"w{n}": []}, partitions, standby)
        idle += [f"{m} of {n}" for m, p in held.items() if not p]
        surge = _assign({**held, "surge": []}, partitions, standby)
        idle += [f"rollout at {n}" for m, p in surge.items() if m == "surge" and not p]
    assert idle == []


def test_the_settings_in_the_manifests_load(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ConfigMap and Secret (Kubernetes) and the workers' environment (compose, with its
    ${VAR:-default} placeholders as compose fills them) are valid settings, not only known
    names: a bad value would stop every worker at start."""
    import os
    import re

    from streams.settings import Settings

    [secret] = _by_kind("Secret")
    worker = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]["worker"]
    fill = re.compile(r"\$\{\w+:-([^}]*)\}")
    compose_env = {k: fill.sub(r"\1", str(v)) for k, v in worker["environment"].items()}
    image_env = {k: v for k, v in _docker_env().items() if k.startswith("INFERSIGHT_")}
    for env in ({**image_env, **_config(), **secret["stringData"]}, {**image_env, **compose_env}):
        for key in [k for k in os.environ if k.startswith("INFERSIGHT_")]:
            monkeypatch.delenv(key)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        settings = Settings()
        assert settings.web_host == "0.0.0.0" and settings.api_token is not None
        assert settings.clickhouse.url and settings.kafka.bootstrap
        assert str(settings.detectors.model_cache).startswith(_docker_env()["HOME"])


def test_the_deploy_files_placeholders_are_named_at_start() -> None:
    """A worker run with the Secret or compose file as shipped warns, naming each secret
    still at its CHANGE-ME placeholder; one with real secrets names none."""
    from pydantic import SecretStr

    from streams.app import placeholder_secrets
    from streams.settings import Settings

    [secret] = _by_kind("Secret")
    shipped = Settings(
        kafka={"bootstrap": "kafka:9092"},
        api_token=secret["stringData"]["INFERSIGHT_API_TOKEN"],
        clickhouse={"password": secret["stringData"]["INFERSIGHT_CLICKHOUSE_PASSWORD"]},
        detectors={"hash_salt": secret["stringData"]["INFERSIGHT_DETECTORS_HASH_SALT"]},
    )
    assert placeholder_secrets(shipped) == [
        "INFERSIGHT_API_TOKEN", "INFERSIGHT_CLICKHOUSE_PASSWORD", "INFERSIGHT_DETECTORS_HASH_SALT"]  # fmt: skip
    real = shipped.model_copy(update={"api_token": SecretStr("9f2c6a1e"),
                                      "clickhouse": shipped.clickhouse.model_copy(
                                          update={"password": SecretStr("s3cret")}),
                                      "detectors": shipped.detectors.model_copy(
                                          update={"hash_salt": SecretStr("salt")})})  # fmt: skip
    assert placeholder_secrets(real) == []
