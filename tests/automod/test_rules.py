"""The rules file: its shape, its defaults, and a one-line error naming the file, the rule and
the field for every kind of mistake (rosey.automod.rules)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rosey.automod.model import CHAT_KINDS, KINDS, PLAYLIST_KINDS, Action, Rule, RuleSet
from rosey.automod.rules import check_rules_file, load_rules, parse_action, parse_rules
from rosey.errors import ConfigError

from .conftest import SOURCE, one_rule, rules_text

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "automod.example.yaml"


def refused(text: str) -> str:
    """The message of the ConfigError ``text`` raises: one line, naming the file."""
    with pytest.raises(ConfigError) as info:
        parse_rules(text, SOURCE)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"automod file {SOURCE}: "), message
    return message


def rule_refused(**fields) -> str:
    rule = {"name": "bad-one", "kind": "flood", "lines": 5, "within": "10s", "action": "warn",
            **fields}
    return refused(rules_text({k: v for k, v in rule.items() if v is not None}))


# --- what a good file gives ------------------------------------------------------------------

def test_the_example_file_loads_with_every_kind_and_a_raid_section() -> None:
    rules = load_rules(EXAMPLE)
    assert {r.kind for r in rules.rules} == set(KINDS)
    assert rules.source == str(EXAMPLE)
    assert rules.get("NO-FLOOD") is rules.rules[0]
    assert rules.raid is not None and rules.raid.options["block_anonymous_users"] is True
    assert rules.raid.calm == 600 and rules.raid.same_line_users == 5
    assert rules.reversal_window == 3600
    links = rules.get("links")
    assert links is not None and links.exempt_rank == 1.5 and links.cooldown == 60  # merged in
    assert [r.name for r in rules.playlist] == ["blocklist", "too-long"]  # fair-share: disabled
    assert all(r.kind in CHAT_KINDS for r in rules.chat)


def test_defaults_apply_and_each_rule_may_override_them() -> None:
    rules = parse_rules(rules_text(
        {"name": "a", "kind": "caps", "action": "warn"},
        {"name": "b", "kind": "caps", "action": "warn", "exempt_rank": 3, "cooldown": "off",
         "dry_run": False, "exempt_users": ["Carol"]},
        defaults={"exempt_rank": 1.5, "cooldown": "2m", "dry_run": True,
                  "exempt_users": ["Alice", "BOB"]}), SOURCE)
    a, b = rules.rules
    assert (a.exempt_rank, a.cooldown, a.dry_run, a.exempt_users) == \
        (1.5, 120, True, frozenset({"alice", "bob"}))
    assert (b.exempt_rank, b.cooldown, b.dry_run, b.exempt_users) == (3, 0, False, {"carol"})
    assert a.exempts("ALICE", 0) and a.exempts("zed", 1.5) and not a.exempts("zed", 1)


def test_built_in_defaults() -> None:
    rule = parse_rules(rules_text({"name": "c", "kind": "caps", "action": "log"}), SOURCE).rules[0]
    assert (rule.exempt_rank, rule.cooldown, rule.dry_run, rule.enabled) == (2, 30, False, True)
    assert (rule.params.ratio, rule.params.min_length) == (0.7, 10)


@pytest.mark.parametrize("text", ["rules: []", "rules:", "rules: []\ndefaults: {}",
                                  "rules: []\nx-anything: {a: 1}"])
def test_no_rules_is_a_valid_file(text) -> None:
    rules = parse_rules(text, SOURCE)
    assert rules.rules == () and rules.raid is None and len(rules) == 0


def test_an_empty_rule_set_for_no_file() -> None:
    assert RuleSet.empty() == RuleSet() and RuleSet.empty().raid is None
    check_rules_file("")  # no file: nothing to check


def test_load_and_check_read_the_file(tmp_path) -> None:
    path = tmp_path / "automod.yaml"
    path.write_text(rules_text({"name": "x", "kind": "zalgo", "action": "warn"}))
    assert load_rules(path).rules[0].name == "x"
    check_rules_file(str(path))
    path.write_text("rules: [1]")
    with pytest.raises(ConfigError, match=f"automod file {path}: rule 1:"):
        check_rules_file(path)


@pytest.mark.parametrize(("text", "playlist", "action"), [
    ("log", False, Action("log")),
    ("warn", False, Action("warn")),
    ("Mute 10m", False, Action("mute", 600)),
    ("mute", False, Action("mute")),
    ("smute 1h30m", False, Action("smute", 5400)),
    ("kick", False, Action("kick")),
    ("ban", False, Action("ban")),
    ("ban 1d", False, Action("ban", 86400)),
    ("remove", True, Action("log", None, True)),
    ("remove, warn", True, Action("warn", None, True)),
    ("ban 2w ,remove", True, Action("ban", 1209600, True)),
])
def test_actions(text, playlist, action) -> None:
    assert parse_action(text, playlist=playlist) == action
    assert parse_action(action.text, playlist=playlist) == action  # text reads back
    assert action.duration == action.duration_seconds


@pytest.mark.parametrize(("text", "playlist", "why"), [
    ("remove", False, "only for playlist rules"),
    ("warn, remove", False, "only for playlist rules"),
    ("kick 10m", False, "only mute, smute and ban take a duration"),
    ("mute 10 minutes", False, "is not a duration"),
    ("mute, ban", False, "give one"),
    ("", False, "empty part"),
    ("warn,", True, "empty part"),
    ("delete", True, "is not an action"),
])
def test_bad_actions(text, playlist, why) -> None:
    with pytest.raises(ValueError, match=why):
        parse_action(text, playlist=playlist)


def test_action_text() -> None:
    assert Action("mute", 600).text == "mute 10m" == str(Action("mute", 600))
    assert Action("ban", 90061).text == "ban 1d1h1m1s"
    assert Action("log", None, True).text == "remove"
    assert Action("warn", None, True).text == "remove, warn"


# --- one-line errors naming the file, the rule and the field ---------------------------------

@pytest.mark.parametrize(("fields", "expected"), [
    ({"within": "10 secs"}, "rule 'bad-one': field 'within': \"10 secs\" is not a duration"),
    ({"within": 10}, "rule 'bad-one': field 'within': 10 is not a duration"),
    ({"within": None}, "rule 'bad-one': field 'within': required"),
    ({"lines": "five"}, "rule 'bad-one': field 'lines': \"five\" is not a whole number"),
    ({"lines": 1}, "rule 'bad-one': field 'lines': 1 is out of range"),
    ({"lines": -3}, "rule 'bad-one': field 'lines': -3 is out of range"),
    ({"lines": True}, "rule 'bad-one': field 'lines': true is not a whole number"),
    ({"lines": 2.5}, "rule 'bad-one': field 'lines': 2.5 is not a whole number"),
    ({"withn": "10s"}, "rule 'bad-one': field 'withn': unknown field for kind flood "
                       "(did you mean 'within'?"),
    ({"withn": "10s", "within": None}, "field 'withn': unknown field"),  # before "required"
    ({"ratio": 0.5}, "rule 'bad-one': field 'ratio': unknown field for kind flood"),
    ({"kind": "spam"}, "rule 'bad-one': field 'kind': \"spam\" is not a kind"),
    ({"kind": None}, "rule 'bad-one': field 'kind': required"),
    ({"action": None}, "rule 'bad-one': field 'action': required"),
    ({"action": "remove"}, "rule 'bad-one': field 'action': remove is only for playlist rules"),
    ({"action": ["warn"]}, "rule 'bad-one': field 'action': a list is not text"),
    ({"action": "mute forever"}, "rule 'bad-one': field 'action': \"forever\" is not a duration"),
    ({"exempt_rank": "mod"}, "rule 'bad-one': field 'exempt_rank': \"mod\" is not a number"),
    ({"exempt_rank": -1}, "rule 'bad-one': field 'exempt_rank': -1 is out of range"),
    ({"exempt_rank": 0}, "rule 'bad-one': field 'exempt_rank': 0 is out of range (above 0)"),
    ({"exempt_users": "alice"}, None),  # one name: fine
    ({"exempt_users": [1]}, "rule 'bad-one': field 'exempt_users': entry 1: 1 is not non-empty"),
    ({"cooldown": "soon"}, "rule 'bad-one': field 'cooldown': \"soon\" is not a duration"),
    ({"dry_run": "maybe"}, "rule 'bad-one': field 'dry_run': \"maybe\" is not true or false"),
    ({"enabled": 1}, "rule 'bad-one': field 'enabled': 1 is not true or false"),
    ({"note": 5}, "rule 'bad-one': field 'note': 5 is not text"),
    ({"name": None}, "rule 1: field 'name': required"),
    ({"name": 7}, "rule 1: field 'name': 7 is not text"),
    ({"name": "has space"}, "rule 1: field 'name': \"has space\" is not a rule name"),
])
def test_rule_errors_name_file_rule_and_field(fields, expected) -> None:
    if expected is None:
        rule = {"name": "ok", "kind": "flood", "lines": 5, "within": "10s", "action": "warn",
                **fields}
        parse_rules(rules_text(rule), SOURCE)
        return
    assert expected in rule_refused(**fields)


@pytest.mark.parametrize(("kind", "fields", "field", "why"), [
    ("repeats", {"within": "10s"}, "times", "give times"),
    ("repeats", {"within": "10s", "users": 1}, "users", "out of range"),
    ("caps", {"ratio": 0}, "ratio", "out of range (above 0 to 1)"),
    ("caps", {"ratio": 1.5}, "ratio", "out of range"),
    ("caps", {"min_length": 0}, "min_length", "out of range"),
    ("links", {}, "deny", "matches nothing"),
    ("links", {"deny": ["https://bad.example/x"]}, "deny", "entry 1: \"https://bad.example/x\" "
                                                           "is not a domain name"),
    ("links", {"deny": ["a.com"], "allow": ["a.com"]}, "allow", "in both allow and deny"),
    ("links", {"new_users": "recently"}, "new_users", "is not a duration"),
    ("links", {"guests": "yes please"}, "guests", "not true or false"),
    ("words", {}, "words", "give words, patterns or both"),
    ("words", {"words": ["ok", ""]}, "words", "entry 2: \"\" is not non-empty text"),
    ("words", {"words": "x", "patterns": ["ok", "(unclosed"]}, "patterns",
     "entry 2: \"(unclosed\" is not a valid pattern: missing ): (unclosed"),
    ("words", {"patterns": ["(a)\\1"]}, "patterns", "is not a valid pattern: invalid escape"),
    ("words", {"patterns": ["(?<=a)b"]}, "patterns", "is not a valid pattern"),
    ("words", {"patterns": ["\\pL{1000}"]}, "patterns", "pattern too large"),
    ("words", {"patterns": {"a": 1}}, "patterns", "a mapping is not a list of text"),
    ("mentions", {}, "names", "required"),
    ("mentions", {"names": 1}, "names", "out of range"),
    ("walls", {}, "max_length", "give max_length"),
    ("walls", {"max_run": 1}, "max_run", "out of range"),
    ("zalgo", {"marks": 0}, "marks", "out of range"),
    ("zalgo", {"marks": 17}, "marks", "out of range (2 to 16)"),
    ("blocklist", {}, "ids", "give ids, titles or both"),
    ("blocklist", {"ids": ["https://vimeo.com/1"]}, "ids", "not type:id"),
    ("blocklist", {"ids": ["zz:abc"]}, "ids", "'zz' is not a CyTube media type"),
    ("blocklist", {"titles": ["[z-a]"]}, "titles", "entry 1: \"[z-a]\" is not a valid pattern"),
    ("duration", {}, "max", "required"),
    ("duration", {"max": 600}, "max", "600 is not a duration"),
    ("per_user", {"max": 0}, "max", "out of range"),
])
def test_kind_field_errors(kind, fields, field, why) -> None:
    action = "remove" if kind in PLAYLIST_KINDS else "warn"
    message = refused(rules_text({"name": "k", "kind": kind, "action": action, **fields}))
    assert f"rule 'k': field '{field}': " in message, message
    assert why in message, message


def test_an_unnamed_or_misnamed_rule_is_named_by_its_position() -> None:
    good = {"name": "a", "kind": "caps", "action": "warn"}
    message = refused(rules_text(good, {"kind": "caps", "action": "warn", "ratio": "x"}))
    assert "rule 2: field 'name': required" in message
    assert "rule 3: a list is not a mapping" in refused(rules_text(good, good | {"name": "b"},
                                                                   ["x"]))  # type: ignore[arg-type]


def test_duplicate_rule_names_any_case() -> None:
    message = refused(rules_text({"name": "Same", "kind": "caps", "action": "warn"},
                                 {"name": "same", "kind": "zalgo", "action": "warn"}))
    assert "rule 2 ('same'): field 'name': already the name of rule 1 ('Same'" in message


def test_a_key_given_twice_is_refused_not_overwritten() -> None:
    text = "rules:\n  - name: a\n    kind: caps\n    action: warn\n    ratio: 0.5\n    ratio: 0.9\n"
    assert "not valid YAML: the key 'ratio' is given twice at line 6" in refused(text)
    assert "the key 'rules' is given twice" in refused("rules: []\nrules: []\n")


def test_merge_keys_may_be_overridden() -> None:
    text = ("x-base: &base {kind: caps, action: warn, ratio: 0.5}\n"
            "rules:\n  - {<<: *base, name: a, ratio: 0.9}\n")
    assert parse_rules(text, SOURCE).rules[0].params.ratio == 0.9


@pytest.mark.parametrize(("text", "expected"), [
    ("rules: [", "not valid YAML: "),
    ("\tbad", "not valid YAML: "),
    ("", "empty (write rules: [] for no rules)"),
    ("# only a comment\n", "empty"),
    ("- a\n- b\n", "a list, not a mapping"),
    ("just text", "\"just text\", not a mapping"),
    ("defaults: {}\n", "field 'rules': required"),
    ("rules: {a: 1}", "field 'rules': a mapping is not a list of rules"),
    ("rules: []\nrule: []", "field 'rule': unknown field for the file"),
    ("rules: []\ndefaults: {cooldwn: 1m}", "defaults: field 'cooldwn': unknown field for defaults"
                                            " (did you mean 'cooldown'?"),
    ("rules: []\ndefaults: {cooldown: later}", "defaults: field 'cooldown': \"later\" is not a"),
    ("rules: []\ndefaults: []", "defaults: a list is not a mapping"),
    ("rules: []\nreversal_window: soon", "field 'reversal_window': \"soon\" is not a duration"),
    ("rules: []\n1: x", "1 is not a field name"),
    ("rules: []\non: x", "true is not a field name"),
    ("rules: [7]", "rule 1: 7 is not a mapping"),
])
def test_file_level_errors(text, expected) -> None:
    assert expected in refused(text)


@pytest.mark.parametrize(("raid", "expected"), [
    ([], "raid: a list is not a mapping"),
    ({}, "raid: field 'options': required"),
    ({"options": {"block_anonymous_users": "yes"}},
     "raid: field 'options': block_anonymous_users: \"yes\" is not true or false"),
    ({"options": {"lock_everything": True}},
     "raid: field 'options': \"lock_everything\" is not a CyTube channel option"),
    ({"options": {"new_user_chat_delay": -5}}, "new_user_chat_delay: -5 is not a number"),
    ({"options": {"chat_antiflood_params": {"burst": "x"}}}, "\"burst\" is not one of"),
    ({"options": {"chat_antiflood": True}, "joins_per_minute": -1},
     "raid: field 'joins_per_minute': -1 is out of range"),
    ({"options": {"chat_antiflood": True}, "calm": "a while"}, "raid: field 'calm':"),
    ({"options": {"chat_antiflood": True}, "joins": 5}, "raid: field 'joins': unknown field"),
])
def test_raid_errors(raid, expected) -> None:
    assert expected in refused(rules_text(raid=raid))


def test_raid_section() -> None:
    rules = parse_rules(rules_text(raid={
        "joins_per_minute": 30, "options": {"chat_antiflood": True, "password": False,
                                            "chat_antiflood_params": {"burst": 2}}}), SOURCE)
    raid = rules.raid
    assert raid is not None
    assert (raid.joins_per_minute, raid.guests_per_minute, raid.calm) == (30, 0, 600)
    assert dict(raid.options) == {"chat_antiflood": True, "password": False,
                                  "chat_antiflood_params": {"burst": 2}}
    assert (raid.announce_on, raid.announce_off) == ("", "")


def test_file_errors(tmp_path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match=f"automod file {missing}: cannot be read"):
        load_rules(missing)
    latin = tmp_path / "latin1.yaml"
    latin.write_bytes("rules: []\n# caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=f"automod file {latin}: not UTF-8 text"):
        load_rules(latin)
    huge = tmp_path / "huge.yaml"
    huge.write_bytes(b"#" * (5 << 20))
    with pytest.raises(ConfigError, match="larger than 4 MiB"):
        load_rules(huge)


def test_a_big_word_list_and_many_patterns_load() -> None:
    words = [f"word{i}x" for i in range(5_000)]
    patterns = [f"spam{i}\\s+now" for i in range(200)]
    rule = one_rule("words", words=words, patterns=patterns)
    assert len(rule.params.words) == 5_000 and len(rule.params.each_pattern) == 200


def test_params_per_kind() -> None:
    rule = one_rule("links", deny=["*.Bad.Example", "www.evil.org."], allow=["good.example"],
                    new_users="1h")
    assert rule.params.deny == {"bad.example", "evil.org"}
    assert rule.params.new_users == 3600 and not rule.params.guests
    rule = one_rule("blocklist", action="remove",
                    ids=["yt:dQw4w9WgXcQ", "https://www.youtube.com/watch?v=oHg5SJYRHA0&t=1",
                         "youtu.be/9bZkp7q19f0", "youtube.com/shorts/abcdefghijk", "vi:1234"])
    assert rule.params.ids == {"yt:dQw4w9WgXcQ", "yt:oHg5SJYRHA0", "yt:9bZkp7q19f0",
                               "yt:abcdefghijk", "vi:1234"}
    assert one_rule("duration", action="remove", max="1h30m").params.max_seconds == 5400
    assert one_rule("words", words=["  two   words "]).params.words == ("two words",)
    assert isinstance(one_rule("per_user", action="remove", max=3), Rule)
