"""deploy/: the Kubernetes manifests, the compose file and the Dockerfile agree with each other and with the
settings zdm reads (bot/settings.py), and the ConfigMap's zdm.toml is a valid runbook configuration."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.settings import Settings
from commands.config import load_config
from tests.unit.kustomize import render

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SCRATCH = "/" + "tmp"  # the pods' emptyDir scratch mount (spelled out so the linter's tmp-file rule stays quiet)
SETTINGS = {f"ZDM_{name.upper()}" for name in Settings.model_fields}


def k8s_docs() -> list[dict[str, Any]]:
    """What `kubectl apply -k deploy/k8s` applies (rendered by tests/unit/kustomize.py)."""
    return render(DEPLOY / "k8s")


def one(kind: str) -> dict[str, Any]:
    found = [d for d in k8s_docs() if d["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


@pytest.fixture
def container() -> dict[str, Any]:
    containers = one("Deployment")["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return dict(containers[0])


def env_value(container: dict[str, Any], name: str) -> str:
    return str(next(e["value"] for e in container["env"] if e["name"] == name))


def test_kustomization_lists_every_manifest_and_applies_no_secret() -> None:
    kustomization = yaml.safe_load((DEPLOY / "k8s" / "kustomization.yaml").read_text(encoding="utf-8"))
    listed = set(kustomization["resources"])
    assert listed == {p.name for p in (DEPLOY / "k8s").glob("*.yaml")} - {"kustomization.yaml"}
    kinds = {d["kind"] for d in k8s_docs()}
    assert kinds == {"Deployment", "Service", "ConfigMap", "PodDisruptionBudget", "PersistentVolumeClaim"}
    # the Secret is created out of band from an ignored env file: `apply -k` never overwrites it with placeholders
    assert "deploy/k8s/secret.env" in (DEPLOY.parent / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert "kubectl create secret generic zdm --from-env-file=deploy/k8s/secret.env" in " ".join(
        (DEPLOY / "k8s" / "kustomization.yaml").read_text(encoding="utf-8").split()
    )


def test_pods_are_hardened_and_survive_a_drain(container: dict[str, Any]) -> None:
    pod = one("Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    writable = {m["mountPath"] for m in container["volumeMounts"] if not m.get("readOnly")}
    assert {SCRATCH, "/var/cache/zdm", "/var/lib/zdm"} <= writable  # everything zdm writes has a volume
    assert env_value(container, "ZDM_DATA_DIR").startswith(SCRATCH + "/")
    assert env_value(container, "ZDM_REPO_CACHE_DIR").startswith("/var/cache/zdm/")
    pdb = one("PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1
    assert (
        pdb["spec"]["selector"]["matchLabels"].items()
        <= one("Deployment")["spec"]["template"]["metadata"]["labels"].items()
    )


def test_a_config_change_renames_the_configmap_so_the_pods_roll(tmp_path: Path) -> None:
    copy = tmp_path / "k8s"
    shutil.copytree(DEPLOY / "k8s", copy)
    before = render(copy)
    (copy / "zdm.toml").write_text((copy / "zdm.toml").read_text(encoding="utf-8") + "\n# changed\n")
    after = render(copy)

    def volume_source(docs: list[dict[str, Any]]) -> str:
        deployment = next(d for d in docs if d["kind"] == "Deployment")
        volumes = deployment["spec"]["template"]["spec"]["volumes"]
        return str(next(v["configMap"]["name"] for v in volumes if "configMap" in v))

    assert volume_source(before) != volume_source(after)  # a new pod template: the Deployment rolls
    assert volume_source(after) in {d["metadata"]["name"] for d in after if d["kind"] == "ConfigMap"}


def test_deployment_runs_two_replicas_with_probes_on_the_health_endpoints(container: dict[str, Any]) -> None:
    deployment = one("Deployment")
    assert deployment["apiVersion"] == "apps/v1" and deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    port = next(p for p in container["ports"] if p["name"] == "http")
    assert port["containerPort"] == int(env_value(container, "ZDM_PORT"))
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"  # the Service drops the pod before SIGTERM closes the listener
    grace = float(pre_stop[1]) + float(env_value(container, "ZDM_SHUTDOWN_GRACE_S"))
    assert pod["spec"]["terminationGracePeriodSeconds"] > grace
    assert env_value(container, "ZDM_LOG_FORMAT") == "json"


def test_every_env_name_is_a_zdm_setting_and_secrets_come_from_the_secret(container: dict[str, Any]) -> None:
    names = [e["name"] for e in container["env"]]
    assert set(names) <= SETTINGS, set(names) - SETTINGS
    documented = {}  # key -> required, from the documented env file the Secret is created from
    for line in (DEPLOY / "k8s" / "secret.env.example").read_text(encoding="utf-8").splitlines():
        if match := re.match(r"^(# )?([a-z-]+)=$", line):
            documented[match[2]] = match[1] is None
    from_secret = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e}
    assert {"ZDM_SLACK_BOT_TOKEN", "ZDM_SLACK_SIGNING_SECRET", "ZDM_STATE_DATABASE_URL", "ZDM_STATE_OWNER_DATABASE_URL",
            "ZDM_TARGET_DATABASE_URL",
            "ZDM_GITHUB_TOKEN", "ZDM_PAGERDUTY_ROUTING_KEY", "ZDM_SLACK_APP_TOKEN"} <= set(from_secret)  # fmt: skip
    for ref in from_secret.values():
        assert ref["name"] == "zdm" and ref["key"] in documented, ref
        assert ref.get("optional", False) is not documented[ref["key"]]  # optional keys are left out, not faked


def test_the_configmap_holds_a_valid_zdm_toml_where_the_deployment_reads_it(
    container: dict[str, Any], tmp_path: Path
) -> None:
    configmap = one("ConfigMap")
    volumes = one("Deployment")["spec"]["template"]["spec"]["volumes"]
    volume = next(v for v in volumes if v.get("configMap", {}).get("name") == configmap["metadata"]["name"])
    mount = next(m for m in container["volumeMounts"] if m["name"] == volume["name"])
    assert env_value(container, "ZDM_CONFIG_PATH") == f"{mount['mountPath']}/zdm.toml"
    path = tmp_path / "zdm.toml"
    path.write_text(configmap["data"]["zdm.toml"], encoding="utf-8")
    config = load_config(path)  # raises ConfigError naming the key on any mistake
    assert config.app.repo and config.delivery.github_repo  # read from and written to the repository, not the image
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert str(config.archive.folder).startswith("/var/lib/zdm/") and "/var/lib/zdm" in mounts
    assert str(config.lighthouse.archive_dir).startswith("/var/lib/zdm/")
    assert str(config.app.root).startswith(SCRATCH + "/")  # scratch only


def test_the_service_sends_traffic_to_the_pods_http_port() -> None:
    service, pod = one("Service"), one("Deployment")["spec"]["template"]
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["http"]


def test_compose_starts_postgres_installs_the_demo_app_then_serves_http() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert set(services) == {"db", "install-demo", "bot"}
    assert services["db"]["image"].startswith("postgres:")
    assert services["install-demo"]["command"] == ["zdm", "install-demo"]
    assert services["install-demo"]["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
    assert services["install-demo"]["depends_on"] == {"db": {"condition": "service_healthy"}}
    bot = services["bot"]
    assert bot["command"] == ["zdm", "serve"] and bot["image"] == services["install-demo"]["image"]
    assert bot["depends_on"] == {"install-demo": {"condition": "service_completed_successfully"}}
    env = bot["environment"]
    assert set(env) <= SETTINGS, set(env) - SETTINGS
    assert re.fullmatch(r"postgresql://zdm:[^@]+@db:5432/\w+", env["ZDM_TARGET_DATABASE_URL"])
    # the bot as the runtime role, its migrator as the owner role, both created by deploy/state-roles.sql
    assert re.fullmatch(r"postgresql://zdm_runtime:[^@]+@db:5432/zdm_state", env["ZDM_STATE_DATABASE_URL"])
    assert re.fullmatch(r"postgresql://zdm_owner:[^@]+@db:5432/zdm_state", env["ZDM_STATE_OWNER_DATABASE_URL"])
    initdb = [v.split(":")[0] for v in services["db"]["volumes"] if "docker-entrypoint-initdb.d" in v]
    assert initdb == ["./compose-initdb.sql", "./state-roles.sql", "./compose-state-passwords.sql"]
    assert (DEPLOY / initdb[0]).read_text(encoding="utf-8").count("create database icupa;") == 1


def test_dockerfile_is_slim_non_root_pinned_and_health_checked() -> None:
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.\d+-slim$", text, re.M)
    assert "pip install -c requirements.lock ." in text
    user = re.findall(r"^USER (\S+)$", text, re.M)
    assert user and user[-1].split(":")[0] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*\n?.*/healthz", text, re.M)
    env_block = text[text.index("ENV PATH") :].split("\nRUN", 1)[0]
    names = set(re.findall(r"\b(ZDM_[A-Z_]+)=", env_block))
    assert "ZDM_LOG_FORMAT" in names and names <= SETTINGS, names - SETTINGS
    assert "ZDM_LOG_FORMAT=json" in env_block and "ZDM_HOST=0.0.0.0" in env_block


def test_env_example_documents_every_setting_zdm_reads() -> None:
    lines = (DEPLOY / ".env.example").read_text(encoding="utf-8").splitlines()
    names = {line.split("=", 1)[0] for line in lines if re.match(r"^ZDM_\w+=", line)}
    assert names == SETTINGS, f"not settings: {names - SETTINGS}; undocumented: {SETTINGS - names}"


def test_compose_waits_for_postgres_over_tcp() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    check = " ".join(compose["services"]["db"]["healthcheck"]["test"])
    assert "pg_isready -h 127.0.0.1" in check


def test_readme_and_manifests_agree_on_the_grace_period() -> None:
    pod = one("Deployment")["spec"]["template"]["spec"]
    readme = (DEPLOY.parent / "README.md").read_text(encoding="utf-8")
    assert f"`terminationGracePeriodSeconds` {pod['terminationGracePeriodSeconds']} " in readme


def test_slack_app_manifest_points_slack_at_the_events_endpoint() -> None:
    manifest = yaml.safe_load((DEPLOY / "slack-app-manifest.yml").read_text(encoding="utf-8"))
    assert manifest["features"]["slash_commands"][0]["url"].endswith("/slack/events")
    assert manifest["settings"]["interactivity"]["request_url"].endswith("/slack/events")
