"""deploy/: Prometheus rules (promtool check + unit tests), Grafana provisioning and
dashboard, docker-compose; every metric they query must be one the daemon exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_observe_http import StoreView

from monitor.config import ServiceSettings, load_config
from monitor.observe.http import build_app
from monitor.observe.metrics import Metrics

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
RULES = DEPLOY / "prometheus" / "rules" / "sdo-monitor.rules.yml"
RULE_TESTS = DEPLOY / "prometheus" / "tests" / "sdo-monitor.rules.test.yml"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "sdo-monitor.json"
COMPOSE = DEPLOY / "docker-compose.yml"
OPERATIONS = ROOT / "docs" / "operations.md"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (Debian package 'prometheus'; "
                             "`make test` installs it when run as root)")

# PromQL words that are not metric names (functions are recognised by their '(').
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or",
             "unless", "offset", "bool", "inf", "nan"}
#: Series that Prometheus itself provides.
_PROMETHEUS_SERIES = {"up", "scrape_duration_seconds", "ALERTS"}


def exported_names() -> set[str]:
    """Every sample name a fresh daemon registry can export."""
    suffixes = {"counter": ("_total", "_created"), "gauge": ("",), "info": ("_info",),
                "histogram": ("_bucket", "_sum", "_count", "_created"),
                "summary": ("", "_sum", "_count", "_created"), "stateset": ("",),
                "gaugehistogram": ("_bucket", "_gsum", "_gcount")}
    names: set[str] = set()
    for family in Metrics().registry.collect():
        names.update(family.name + s for s in suffixes.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names


def metric_names(expr: str) -> set[str]:
    """Metric names referenced by a PromQL expression (or a Grafana query)."""
    names: set[str] = set()
    for match in re.finditer(r"label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)", expr):
        names.add(match.group(1))
    expr = re.sub(r"label_values\([^)]*\)", "", expr)
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)           # string literals
    expr = re.sub(r"\{[^}]*\}", "", expr)                   # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)                  # range selectors
    expr = re.sub(r"\$\{?\w+\}?", "", expr)                 # Grafana variables
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    expr = re.sub(r"\boffset\s+\w+", "", expr)
    expr = re.sub(r"(?<![\w.])\d+(\.\d+)?([eE][-+]?\d+)?", "", expr)  # numbers
    for match in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*(\s*\()?", expr):
        token = match.group(0)
        if token.endswith("(") or token.strip() in _KEYWORDS:
            continue  # a function call or a keyword
        names.add(token)
    return names


def test_metric_name_extraction_finds_names_and_skips_the_rest() -> None:
    expr = ('histogram_quantile(0.9, sum by (le, feed) (rate(sdo_monitor_x_bucket'
            '{instance=~"$instance", feed="a b"}[$__rate_interval]))) / on (instance) '
            'group_left () (up offset 10m > 1e-6) and label_values(sdo_monitor_up, instance)')
    assert metric_names(expr) == {"sdo_monitor_x_bucket", "up", "sdo_monitor_up"}


def rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(RULES.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def dashboard_queries(dash: dict[str, Any]) -> list[str]:
    out: list[str] = []

    def walk(panels: list[dict[str, Any]]) -> None:
        for panel in panels:
            out.extend(t["expr"] for t in panel.get("targets", []) if "expr" in t)
            walk(panel.get("panels", []))

    walk(dash["panels"])
    for var in dash["templating"]["list"]:
        if var["type"] == "query":
            query = var["query"]
            out.append(query["query"] if isinstance(query, dict) else query)
    return out


def test_every_queried_metric_is_exported_by_the_daemon() -> None:
    exported = exported_names() | _PROMETHEUS_SERIES
    assert "sdo_monitor_end_to_end_seconds_bucket" in exported
    assert "sdo_monitor_files_total" in exported and "sdo_monitor_build_info" in exported
    used: dict[str, set[str]] = {}
    for rule in rules():
        used.setdefault(f"rule {rule['alert']}", set()).update(metric_names(rule["expr"]))
    dash = json.loads(DASHBOARD.read_text())
    for expr in dashboard_queries(dash):
        used.setdefault("dashboard", set()).update(metric_names(expr))
    # configs and compose may mention metric names (healthchecks, relabelling): same rule
    for path in [COMPOSE, *sorted((DEPLOY / "prometheus").glob("*.yml")),
                 *sorted((DEPLOY / "grafana" / "provisioning").rglob("*.yml"))]:
        used.setdefault(path.name, set()).update(re.findall(r"\bsdo_monitor_\w+", path.read_text()))
    unknown = {where: sorted(names - exported) for where, names in used.items()
               if names - exported}
    assert not unknown, f"metrics not exported by the daemon: {unknown}"
    # and the dashboard really covers what the issue asks for
    needed = {"sdo_monitor_channel_last_observation_timestamp_seconds",
              "sdo_monitor_end_to_end_seconds_bucket", "sdo_monitor_frames_total",
              "sdo_monitor_drops_total", "sdo_monitor_queue_depth",
              "sdo_monitor_batch_size_bucket", "sdo_monitor_backend_info",
              "sdo_monitor_outbox_pending_messages", "sdo_monitor_class_probability",
              "sdo_monitor_irradiance_w_m2"}
    assert needed <= used["dashboard"], needed - used["dashboard"]


# -- Prometheus -------------------------------------------------------------------------
@needs_promtool
def test_promtool_checks_rules_and_configs() -> None:
    for args in (["check", "rules", str(RULES)],
                 ["check", "config", str(DEPLOY / "prometheus" / "prometheus.yml")],
                 ["check", "config", str(DEPLOY / "prometheus" / "prometheus-compose.yml")]):
        run = subprocess.run([PROMTOOL, *args], capture_output=True, check=False, text=True, timeout=60)
        assert run.returncode == 0, run.stdout + run.stderr
    assert f"SUCCESS: {len(rules())} rules found" in subprocess.run(
        [PROMTOOL, "check", "rules", str(RULES)], capture_output=True, check=False, text=True,
        timeout=60).stdout


@needs_promtool
def test_promtool_unit_tests_pass() -> None:
    run = subprocess.run([PROMTOOL, "test", "rules", str(RULE_TESTS)], capture_output=True, check=False,
                         text=True, timeout=120, cwd=RULE_TESTS.parent)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS" in run.stdout + run.stderr


@needs_promtool
def test_promtool_unit_tests_catch_a_broken_rule(tmp_path: Path) -> None:
    """The tests are not vacuous: a changed threshold makes them fail."""
    (tmp_path / "rules").mkdir()
    (tmp_path / "tests").mkdir()
    broken = RULES.read_text().replace("> 0.05", "> 0.5")
    assert broken != RULES.read_text()
    (tmp_path / "rules" / RULES.name).write_text(broken)
    shutil.copy(RULE_TESTS, tmp_path / "tests" / RULE_TESTS.name)
    run = subprocess.run([PROMTOOL, "test", "rules", RULE_TESTS.name], capture_output=True, check=False,
                         text=True, timeout=120, cwd=tmp_path / "tests")
    assert run.returncode != 0 and "SdoMonitorHighDropRate" in run.stdout + run.stderr


def test_every_rule_is_complete_tested_and_has_a_runbook() -> None:
    anchors = {_slug(line.lstrip("#").strip()) for line in OPERATIONS.read_text().splitlines()
               if line.startswith("#")}
    tests = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    fires = {case["alertname"] for t in tests for case in t.get("alert_rule_test", [])
             if case["exp_alerts"]}
    silent = {case["alertname"] for t in tests for case in t.get("alert_rule_test", [])
              if not case["exp_alerts"]}
    names = [rule["alert"] for rule in rules()]
    assert len(names) == len(set(names))
    required = {"SdoMonitorFeedStale", "SdoMonitorNoFramesProcessed",
                "SdoMonitorOutboxBacklogGrowing", "SdoMonitorHighDropRate",
                "SdoMonitorBackendDegraded", "SdoMonitorEngineBuildFailed",
                "SdoMonitorHighFlareProbability", "SdoMonitorIrradianceJump"}
    assert required <= set(names)
    for rule in rules():
        name = rule["alert"]
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, name
        assert {"summary", "description", "runbook_url"} <= set(rule["annotations"]), name
        anchor = rule["annotations"]["runbook_url"].rsplit("#", 1)[1]
        assert anchor == name.lower() and anchor in anchors, f"no runbook section for {name}"
        assert name in fires, f"no promtool case where {name} fires"
        assert name in silent, f"no promtool case where {name} stays silent"


def _slug(heading: str) -> str:
    """GitHub's heading anchor."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


# -- Grafana ------------------------------------------------------------------------------
def test_dashboard_is_well_formed_and_shows_the_overlay_from_the_api() -> None:
    dash = json.loads(DASHBOARD.read_text())
    panels = dash["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)) and dash["uid"] == "sdo-monitor"
    cells: set[tuple[int, int]] = set()
    for p in panels:
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24, p["title"]
        area = {(x, y) for x in range(g["x"], g["x"] + g["w"])
                for y in range(g["y"], g["y"] + g["h"])}
        assert not area & cells, f"panel {p['title']!r} overlaps another"
        cells |= area
        for target in p.get("targets", []):
            assert target["datasource"]["uid"] == "${datasource}"
    titles = " | ".join(p["title"].lower() for p in panels)
    for words in ("freshness per channel", "latency", "throughput", "drops by reason",
                  "queue depths", "batch size", "backend", "outbox", "class probabilities",
                  "irradiance", "saliency overlay"):
        assert words in titles, words
    text = next(p for p in panels if p["type"] == "text")
    src = re.search(r'src="\$\{daemon_url\}(/[^"?]+)', text["options"]["content"]).group(1)
    served = {r.canonical for r in build_app(StoreView(), Metrics().registry).router.resources()}
    assert src in served
    irradiance = next(p for p in panels if "irradiance" in p["title"].lower())
    assert irradiance["fieldConfig"]["defaults"]["custom"]["scaleDistribution"]["type"] == "log"


def test_grafana_provisioning_points_at_the_dashboard_and_prometheus() -> None:
    prov = DEPLOY / "grafana" / "provisioning"
    ds = yaml.safe_load((prov / "datasources" / "sdo-monitor.yml").read_text())
    (source,) = ds["datasources"]
    assert source["type"] == "prometheus" and source["url"] == "${SDO_PROMETHEUS_URL}"
    # the dashboard opens on this datasource, whatever the site's default is
    dash = json.loads(DASHBOARD.read_text())
    (variable,) = [v for v in dash["templating"]["list"] if v["name"] == "datasource"]
    assert variable["current"]["value"] == source["uid"]
    assert variable["current"]["text"] == source["name"]
    boards = yaml.safe_load((prov / "dashboards" / "sdo-monitor.yml").read_text())
    (provider,) = boards["providers"]
    compose = yaml.safe_load(COMPOSE.read_text())
    mounts = dict(v.split(":")[:2][::-1] for v in compose["services"]["grafana"]["volumes"])
    assert mounts[provider["options"]["path"]] == "./grafana/dashboards"
    assert compose["services"]["grafana"]["environment"]["SDO_PROMETHEUS_URL"].endswith(":9090")


# -- docker-compose ------------------------------------------------------------------------
def test_compose_file_is_a_minimal_valid_stack() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    assert set(services) == {"kafka", "prometheus", "grafana", "sdo-monitor"}
    kafka = services["kafka"]["environment"]
    assert "controller" in kafka["KAFKA_PROCESS_ROLES"] and "KAFKA_ZOOKEEPER_CONNECT" not in kafka
    for name, service in services.items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in compose["volumes"], f"{name}: undeclared volume {source}"
    daemon = services["sdo-monitor"]
    assert (DEPLOY / daemon["build"]["context"] / daemon["build"]["dockerfile"]).is_file()
    config_src = next(v.split(":")[0] for v in daemon["volumes"]
                      if v.split(":")[1] == "/etc/sdo-monitor/config.yaml")
    config = load_config(DEPLOY / config_src)  # the daemon's own validation
    assert config.kafka.bootstrap_servers == ("kafka:9092",)
    assert f"{config.http.port}:{config.http.port}" in daemon["ports"][0]
    grace = int(daemon["stop_grace_period"].rstrip("s"))
    assert grace > 2 * ServiceSettings().drain_timeout_s
    prom = yaml.safe_load((DEPLOY / "prometheus" / "prometheus-compose.yml").read_text())
    assert prom["scrape_configs"][0]["static_configs"][0]["targets"] == [
        f"sdo-monitor:{config.http.port}"]
