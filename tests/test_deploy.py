"""The deployment examples (deploy/) name only settings, routes and commands that exist."""

from __future__ import annotations

import importlib.util
import re
from dataclasses import fields

import yaml

from pose_service.config import ServiceConfig
from servers import ROOT

DEPLOY = ROOT / "deploy"


def _documents() -> list[dict]:
    documents = [yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())]
    documents += list(yaml.safe_load_all((DEPLOY / "kubernetes.yml").read_text()))
    return documents


def _containers() -> list[dict]:
    compose, *kubernetes = _documents()
    containers = list(compose["services"].values())
    for document in kubernetes:
        if document["kind"] == "Deployment":
            containers += document["spec"]["template"]["spec"]["containers"]
    return containers


def test_every_setting_named_is_read_by_the_service():
    read_elsewhere = (ROOT / "gunicorn.conf.py").read_text() + (ROOT / "start-pose-service.sh").read_text()
    known = {"POSE_" + f.name.upper() for f in fields(ServiceConfig)}
    named = set(re.findall(r"POSE_[A-Z_]+", "\n".join(p.read_text() for p in DEPLOY.iterdir())))
    assert named and all(name in known or name in read_elsewhere for name in named), named - known


def test_commands_and_probes_exist(app):
    for container in _containers():
        command = container.get("command") or []
        if "-m" in command:
            assert importlib.util.find_spec(command[command.index("-m") + 1]) is not None, command
    routes = {rule.rule for rule in app.url_map.iter_rules()}
    probes = [c[p]["httpGet"]["path"] for c in _containers() for p in ("readinessProbe", "livenessProbe") if p in c]
    assert probes and set(probes) <= routes
