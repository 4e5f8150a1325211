"""The Kubernetes manifests, the Helm chart values and the CI workflow, checked as written.

Every manifest validates against the Kubernetes OpenAPI schemas (strict: unknown fields
are errors) that the kubernetes-validate package ships, offline; then field by field:
pinned images, the Job's master and workers agreeing, the Secrets mounted where the
config names its files, the NetworkPolicy, the login. Helm itself is not installable
here, so the chart's values are checked against the keys the chart reads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

import loadgen
from loadgen.run import configfile

kubernetes_validate = pytest.importorskip("kubernetes_validate")
ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "docs" / "k8s"
MANIFESTS = sorted(p for p in K8S.glob("*.yaml") if p.name != "locust-chart-values.yaml")
#: the oldest Kubernetes minor version the manifests must be valid for
KUBERNETES = "1.29"
#: deliveryhero/locust's values keys that the values file may set (the chart's values.yaml)
CHART_KEYS = {
    "loadtest": {
        "name",
        "locust_locustfile",
        "locust_locustfile_path",
        "locust_locustfile_configmap",
        "locust_lib_configmap",
        "locust_host",
        "pip_packages",
        "environment",
        "environment_secret",
        "environment_external_secret",
        "mount_external_secret",
        "headless",
        "tags",
        "excludeTags",
        "locustCmd",
    },
    "image": {"repository", "tag", "pullPolicy"},
    "master": {
        "image",
        "logLevel",
        "resources",
        "environment",
        "args",
        "command",
        "strategy",
        "auth",
        "restartPolicy",
        "envs_include_default",
    },
    "worker": {
        "image",
        "logLevel",
        "replicas",
        "hpa",
        "resources",
        "environment",
        "args",
        "command",
        "strategy",
        "restartPolicy",
        "envs_include_default",
    },
    "extraConfigMaps": None,
    "securityContext": None,
    "podSecurityContext": None,
    "service": {"type", "annotations", "extraLabels"},
}


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


def find(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (found,) = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    return found


def pod_of(workload: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]
    return spec["template"]["spec"] if "template" in spec else spec


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_every_manifest_validates_against_the_kubernetes_schemas(path: Path) -> None:
    """Each document is a valid object of its kind (strict schema, Kubernetes 1.29)."""
    docs = documents(path)
    assert docs
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)


def images(value: object) -> list[str]:
    """Every container image named in a document (``image:`` keys, or a chart's
    ``image: {repository, tag}``)."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, child in value.items():
            if key == "image" and isinstance(child, str) and child:
                found.append(child)
            elif key == "image" and isinstance(child, dict):
                found.append(f"{child['repository']}:{child['tag']}")
            else:
                found += images(child)
    elif isinstance(value, list):
        for child in value:
            found += images(child)
    return found


WITH_IMAGES = [
    p for p in [*MANIFESTS, K8S / "locust-chart-values.yaml"] if "image" in p.read_text()
]


@pytest.mark.parametrize("path", WITH_IMAGES, ids=lambda p: p.name)
def test_images_are_pinned_to_the_loadgen_version(path: Path) -> None:
    """No image is `latest` or untagged: loadgen's own carry its version as the tag."""
    named = images(documents(path))
    assert named
    for image in named:
        assert not image.endswith(":latest") and ":" in image.rsplit("/", 1)[-1], image
        if "loadgen" in image:
            assert image.endswith(f":{loadgen.__version__}"), image


def test_the_job_runs_a_master_and_the_workers_it_expects() -> None:
    """The headless Job: --expect-workers equals the workers' parallelism, the master binds
    its pod address, its port is open to workers only, results go to the volume."""
    docs = documents(K8S / "job.yaml")
    master = find(docs, "Job", "loadgen-master")
    workers = find(docs, "Job", "loadgen-worker")
    pod = pod_of(master)
    (container,) = pod["containers"]
    args = container["args"]
    assert args[:3] == ["run", "/config/run.yaml", "--master"]
    expected = int(args[args.index("--expect-workers") + 1])
    assert workers["spec"]["parallelism"] == workers["spec"]["completions"] == expected
    assert args[args.index("--bind") + 1] == "$(POD_IP)"
    env = {e["name"]: e for e in container["env"]}
    assert env["POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
    assert master["spec"]["backoffLimit"] == 0 and pod["restartPolicy"] == "Never"
    results = args[args.index("--results") + 1]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert results.startswith(mounts["results"] + "/")
    claim = volumes["results"]["persistentVolumeClaim"]["claimName"]
    find(docs, "PersistentVolumeClaim", claim)
    (worker,) = pod_of(workers)["containers"]
    service = find(docs, "Service", "loadgen-master")
    assert worker["args"][:3] == ["worker", "--master", service["metadata"]["name"]]
    assert service["spec"]["selector"] == master["spec"]["template"]["metadata"]["labels"]
    policy = find(docs, "NetworkPolicy", "loadgen-master")["spec"]
    assert policy["podSelector"]["matchLabels"] == service["spec"]["selector"]
    (rule,) = policy["ingress"]
    assert rule["from"] == [
        {"podSelector": {"matchLabels": workers["spec"]["template"]["metadata"]["labels"]}}
    ]
    assert rule["ports"] == [{"protocol": "TCP", "port": 5557}]
    fetch = documents(K8S / "fetch-results.yaml")[0]
    assert pod_of(fetch)["volumes"][0]["persistentVolumeClaim"]["claimName"] == claim


def test_the_jobs_config_names_files_where_the_secrets_are_mounted() -> None:
    """The ConfigMap's run.yaml is a valid config; its ids and TLS files are keys of the
    Secrets, mounted at those paths on the master and on every worker."""
    docs = documents(K8S / "job.yaml")
    text = find(docs, "ConfigMap", "loadgen-config")["data"]["run.yaml"]
    config = configfile.from_text(text, check_files=False)
    wanted = [config.charge_points.ids_file, config.tls.ca_file, config.tls.cert_file]
    wanted.append(config.tls.key_file)
    header = (K8S / "job.yaml").read_text(encoding="utf-8").split("apiVersion", 1)[0]
    for job in ("loadgen-master", "loadgen-worker"):
        pod = pod_of(find(docs, "Job", job))
        (container,) = pod["containers"]
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        secrets = {v["name"]: v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
        for path in wanted:
            assert path is not None
            folder, _, key = path.rpartition("/")
            secret = secrets[mounts[folder]]
            assert f"secret generic {secret} " in header.replace("\\\n", " ")
            assert f"{key}=" in header, key  # the header's kubectl command makes that key


def test_the_web_ui_variant_has_its_login_and_a_network_policy() -> None:
    """docs/k8s/loadgen.yaml: the master asks for a password, workers run `loadgen worker`,
    and only workers reach the master's port."""
    docs = documents(K8S / "loadgen.yaml")
    master = find(docs, "Deployment", "loadgen-master")
    (container,) = pod_of(master)["containers"]
    assert "--web-login" in container["command"]
    (worker,) = pod_of(find(docs, "Deployment", "loadgen-worker"))["containers"]
    assert worker["args"][:3] == ["worker", "--master", "loadgen-master"]
    policy = find(docs, "NetworkPolicy", "loadgen-master")["spec"]
    rpc = next(r for r in policy["ingress"] if {"protocol": "TCP", "port": 5557} in r["ports"])
    assert rpc["from"] == [{"podSelector": {"matchLabels": {"app": "loadgen-worker"}}}]


def test_the_chart_values_use_only_keys_the_chart_reads() -> None:
    """Values for deliveryhero/locust: known keys, the master with its login and the
    workers pointed at the chart's master Service (release `loadgen`)."""
    values = yaml.safe_load((K8S / "locust-chart-values.yaml").read_text(encoding="utf-8"))
    for key, value in values.items():
        assert key in CHART_KEYS, key
        if CHART_KEYS[key] is not None:
            assert set(value) <= CHART_KEYS[key], (key, set(value) - CHART_KEYS[key])
    assert "--web-login" in values["master"]["args"]
    assert values["loadtest"]["environment_external_secret"] == {
        "loadgen-web": ["LOADGEN_WEB_PASSWORD"]
    }
    assert values["worker"]["command"] == ["loadgen"]
    assert values["worker"]["args"][:3] == ["worker", "--master", "loadgen-locust"]
    (policy,) = documents(K8S / "locust-chart-networkpolicy.yaml")
    labels = policy["spec"]["podSelector"]["matchLabels"]
    assert labels == {"component": "master", "app.kubernetes.io/instance": "loadgen"}


def test_the_ci_workflow_loads_a_csms_service_and_publishes_the_verdict() -> None:
    """The workflow runs against its CSMS service container with --target, with a config it
    ships, publishes junit.xml and uploads the results folder even when the run fails."""
    workflow = yaml.safe_load((ROOT / "docs" / "ci" / "github-actions.yml").read_text())
    job = workflow["jobs"]["loadgen"]
    (service,) = job["services"].values()
    assert not service["image"].endswith(":latest") and ":" in service["image"]
    port = service["ports"][0].split(":")[0]
    runs = [step["run"] for step in job["steps"] if "run" in step]
    (command,) = [r for r in runs if r.startswith("loadgen run ")]
    assert f"--target ws://localhost:{port}/ocpp" in command
    config = command.split()[2]
    shipped = ROOT / "docs" / "ci" / Path(config).name
    assert shipped.is_file() and configfile.load(shipped).target == "embedded"
    results = command.split("--results ", 1)[1].split()[0]
    uses = {step.get("uses", "").split("@")[0]: step for step in job["steps"]}
    assert uses["actions/upload-artifact"]["with"]["path"] == results
    assert uses["actions/upload-artifact"]["if"] == "always()"
    junit = uses["mikepenz/action-junit-report"]
    assert junit["with"]["report_paths"] == f"{results}/junit.xml" and junit["if"] == "always()"
    assert all("@" in step["uses"] for step in job["steps"] if "uses" in step)
