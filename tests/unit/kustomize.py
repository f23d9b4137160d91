"""A small renderer of *our* kustomization (``kubectl kustomize`` is not on every test machine): the listed
resources, plus each ``configMapGenerator`` ConfigMap named with a content hash (so a config change rolls the pods),
and every reference to it in a pod template renamed. Anything else in the kustomization is refused, so a feature
this renderer does not understand fails the test instead of being ignored."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import yaml

KNOWN = {"apiVersion", "kind", "resources", "configMapGenerator"}


def render(folder: Path) -> list[dict[str, Any]]:
    spec = yaml.safe_load((folder / "kustomization.yaml").read_text(encoding="utf-8"))
    if unknown := set(spec) - KNOWN:
        raise ValueError(f"kustomization.yaml uses {sorted(unknown)}, which this renderer does not implement")
    docs: list[dict[str, Any]] = []
    for name in spec.get("resources", []):
        docs += [d for d in yaml.safe_load_all((folder / name).read_text(encoding="utf-8")) if d]
    renamed: dict[str, str] = {}
    for generator in spec.get("configMapGenerator", []):
        data = {Path(f).name: (folder / f).read_text(encoding="utf-8") for f in generator["files"]}
        labels = generator.get("options", {}).get("labels", {})
        config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": generator["name"]}, "data": data}
        if labels:
            config_map["metadata"]["labels"] = dict(labels)
        digest = hashlib.sha256(json.dumps(config_map, sort_keys=True).encode()).hexdigest()[:10]
        renamed[generator["name"]] = f"{generator['name']}-{digest}"
        config_map["metadata"]["name"] = renamed[generator["name"]]
        docs.append(config_map)
    for doc in docs:
        pod = doc.get("spec", {}).get("template", {}).get("spec")
        if pod:
            _rename_config_maps(pod, renamed)
    return docs


def _rename_config_maps(pod: dict[str, Any], renamed: dict[str, str]) -> None:
    for volume in pod.get("volumes", []):
        if "configMap" in volume:
            volume["configMap"]["name"] = renamed.get(volume["configMap"]["name"], volume["configMap"]["name"])
    for container in pod.get("containers", []) + pod.get("initContainers", []):
        for env in container.get("env", []):
            ref = env.get("valueFrom", {}).get("configMapKeyRef")
            if ref:
                ref["name"] = renamed.get(ref["name"], ref["name"])
        for source in container.get("envFrom", []):
            ref = source.get("configMapRef")
            if ref:
                ref["name"] = renamed.get(ref["name"], ref["name"])
