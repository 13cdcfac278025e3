"""Automatic moderation in the chart: the rules as a ConfigMap mounted as a directory in the bot
pod, ROSEY_AUTOMOD_FILE pointing into it, and nothing of it when no rules are given. A change
of rules must reach the running bot through the volume (it reloads the file), not restart it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml

from .conftest import BOT, WITH_CHANNEL, Rendered, lay_out_config_map_volume

RULES: dict[str, Any] = {
    "exempt_rank": 2,
    "rules": [
        {"name": "no-flood", "kind": "flood", "lines": 5, "within": "10s",
         "action": {"kind": "mute", "duration": "10m"}},
        # what YAML quoting has to survive: colons, quotes, a comment sign, non-ASCII,
        # surrounding blanks, a line break, a leading dash, numbers and booleans as strings
        {"name": "weird: 'quotes' \"and\" #hash", "kind": "words",
         "words": ["héllo wörld", "  spaced  ", "multi\nline", "tab\there", "- dash", "007",
                   "yes", "", "<b>&amp;</b>", "{not: a map}"],
         "max_length": 10000000, "ratio": 0.85,
         "dry_run": True, "action": "warn"},
    ],
}
OTHER_RULES: dict[str, Any] = {"rules": [{"name": "caps", "kind": "caps", "ratio": 0.8,
                                          "action": "log"}]}

CONFIG_MAP = "rosey-bot-automod"


def with_automod(**automod: Any) -> dict[str, Any]:
    return {**WITH_CHANNEL, "automod": automod}


def bot_pod(rendered: Rendered) -> dict[str, Any]:
    return rendered.get(*BOT[:2])["spec"]["template"]


def automod_volume(rendered: Rendered) -> dict[str, Any] | None:
    return next((v for v in bot_pod(rendered)["spec"]["volumes"] if "configMap" in v), None)


def automod_mount(rendered: Rendered, volume: str) -> dict[str, Any]:
    container = rendered.workload_container(*BOT)
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == volume]
    return mount


def bot_env(rendered: Rendered) -> dict[str, str]:
    container = rendered.workload_container(*BOT)
    env = {}
    for source in container["envFrom"]:
        env.update(rendered.config_data(source["configMapRef"]["name"]))
    env.update({e["name"]: e.get("value", "") for e in container.get("env", [])})
    return env


# --- off by default ----------------------------------------------------------------------------
@pytest.mark.parametrize("automod", [{}, {"rules": {}, "existingConfigMap": ""},
                                     {"rules": None}])
def test_nothing_about_automod_is_rendered_without_rules(render, automod) -> None:
    rendered = render(WITH_CHANNEL, {"automod": automod} if automod else {})
    assert not rendered.has("ConfigMap", CONFIG_MAP)
    assert automod_volume(rendered) is None
    assert "ROSEY_AUTOMOD_FILE" not in bot_env(rendered)
    pod_text = json.dumps(bot_pod(rendered)) + json.dumps(rendered.config_data("rosey-bot-config"))
    assert "automod" not in pod_text.lower()
    # the same bot as a render that never heard of automod
    plain = render(WITH_CHANNEL)
    assert rendered.get(*BOT[:2]) == plain.get(*BOT[:2])
    assert rendered.of_kind("ConfigMap") == plain.of_kind("ConfigMap")


def test_no_bot_no_automod_config_map(render) -> None:
    rendered = render({"automod": {"rules": RULES}})  # no channel: the bot is left out
    assert not rendered.has(*BOT[:2])
    assert not rendered.has("ConfigMap", CONFIG_MAP)


# --- rules in the values -----------------------------------------------------------------------
def test_rules_become_a_config_map_that_parses_back_to_them(render) -> None:
    rendered = render(with_automod(rules=RULES))
    cm = rendered.get("ConfigMap", CONFIG_MAP)
    assert cm["metadata"]["namespace"] == "rosey-test"
    assert cm["metadata"]["labels"]["app.kubernetes.io/component"] == "bot"
    assert set(cm["data"]) == {"automod.yaml"}
    assert yaml.safe_load(cm["data"]["automod.yaml"]) == RULES


def test_the_config_map_is_mounted_as_a_directory_and_the_env_points_into_it(render) -> None:
    rendered = render(with_automod(rules=RULES))
    volume = automod_volume(rendered)
    assert volume is not None
    source = volume["configMap"]
    assert source["name"] == CONFIG_MAP
    assert source["items"] == [{"key": "automod.yaml", "path": "automod.yaml"}]
    mount = automod_mount(rendered, volume["name"])
    # subPath mounts never receive ConfigMap updates: the bot would keep its first rules
    assert "subPath" not in mount and "subPathExpr" not in mount
    assert mount["readOnly"] is True
    assert mount["mountPath"] == "/etc/rosey/automod"
    env = bot_env(rendered)
    assert env["ROSEY_AUTOMOD_FILE"] == "/etc/rosey/automod/automod.yaml"
    assert Path(env["ROSEY_AUTOMOD_FILE"]).parent == Path(mount["mountPath"])
    assert Path(env["ROSEY_AUTOMOD_FILE"]).name == source["items"][0]["path"]
    # the file is the only thing there: no other mount shares or hides the directory
    container = rendered.workload_container(*BOT)
    others = [m["mountPath"] for m in container["volumeMounts"] if m is not mount]
    assert not [p for p in others if p.startswith(mount["mountPath"]) or
                mount["mountPath"].startswith(p.rstrip("/") + "/")]


def test_new_rules_do_not_restart_the_bot(render) -> None:
    """No checksum of the rules in the pod: the Deployment is the same whatever the rules say,
    so a helm upgrade with new rules leaves the pod running and the volume brings them."""
    first, second = render(with_automod(rules=RULES)), render(with_automod(rules=OTHER_RULES))
    assert first.config_data(CONFIG_MAP) != second.config_data(CONFIG_MAP)
    assert first.get(*BOT[:2]) == second.get(*BOT[:2])
    annotations = bot_pod(first)["metadata"]["annotations"]
    assert set(annotations) == {"checksum/config", "checksum/secret"}
    rules_text = first.config_data(CONFIG_MAP)["automod.yaml"]
    assert hashlib.sha256(rules_text.encode()).hexdigest() not in annotations.values()


def test_turning_automod_on_rolls_the_pod(render) -> None:
    """The mount and the variable are new pod settings: that change does restart the bot."""
    before = bot_pod(render(WITH_CHANNEL))["metadata"]["annotations"]["checksum/config"]
    after = bot_pod(render(with_automod(rules=RULES)))["metadata"]["annotations"]
    assert after["checksum/config"] != before


# --- an existing ConfigMap ---------------------------------------------------------------------
@pytest.mark.parametrize("rules", [{}, RULES])
def test_existing_config_map_is_mounted_instead_and_wins_over_rules(render, rules) -> None:
    rendered = render(with_automod(rules=rules, existingConfigMap="my-rules"))
    assert not rendered.has("ConfigMap", CONFIG_MAP)
    assert not any("automod.yaml" in (cm.get("data") or {}) for cm in rendered.of_kind("ConfigMap"))
    volume = automod_volume(rendered)
    assert volume["configMap"]["name"] == "my-rules"
    assert volume["configMap"]["items"] == [{"key": "automod.yaml", "path": "automod.yaml"}]
    mount = automod_mount(rendered, volume["name"])
    assert "subPath" not in mount
    assert bot_env(rendered)["ROSEY_AUTOMOD_FILE"] == f"{mount['mountPath']}/automod.yaml"


@pytest.mark.parametrize("bad", [
    {"automod": {"rule": {}}},
    {"automod": {"rules": ["a list"]}},
    {"automod": {"rules": "rules: []"}},  # a file of your own: existingConfigMap
    {"automod": {"existingConfigMap": 3}},
])
def test_schema_rejects_malformed_automod_values(chart, bad: dict[str, Any]) -> None:
    with pytest.raises(helm.HelmValuesError):
        chart.render({**WITH_CHANNEL, **bad}, name="rosey")


# --- the bot's view (bot_settings: test_chart_wiring.py) ---------------------------------------
def test_a_config_map_update_reaches_the_file_the_bot_reads(render, tmp_path) -> None:
    rendered = render(with_automod(rules=RULES))
    path = bot_env(rendered)["ROSEY_AUTOMOD_FILE"]
    volume = automod_volume(rendered)["name"]
    # the kubelet's layout under tmp_path: the file at that path is the rules ...
    lay_out_config_map_volume(rendered, *BOT, volume, tmp_path)
    local = tmp_path / path.lstrip("/")
    assert yaml.safe_load(local.read_text()) == RULES
    # ... and a helm upgrade with new rules swaps them in at the same path, same pod
    upgraded = render(with_automod(rules=OTHER_RULES))
    assert upgraded.get(*BOT[:2]) == rendered.get(*BOT[:2])
    lay_out_config_map_volume(rendered, *BOT, volume, tmp_path,
                              data=upgraded.config_data(CONFIG_MAP))
    assert yaml.safe_load(local.read_text()) == OTHER_RULES


def test_notes_say_where_the_rules_come_from_only_when_there_are_some(render) -> None:
    assert "Automatic moderation" not in render(WITH_CHANNEL).notes
    notes = render(with_automod(rules=RULES)).notes
    assert f"ConfigMap {CONFIG_MAP}" in notes and "automod_reload" in notes
    assert "ConfigMap my-rules" in render(with_automod(existingConfigMap="my-rules")).notes
