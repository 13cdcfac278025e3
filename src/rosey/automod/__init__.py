"""Automatic moderation's rules: the rules file and the matchers, as a pure library.

Reads one YAML file and judges chat lines and playlist items against it; it does no I/O
besides reading the file, runs no event loop, and imports nothing from the bot (the bot's
automod engine imports it, and acts on the hits: exemptions, cooldowns, dry runs, actions).

- :mod:`~rosey.automod.rules`: ``load_rules(path)``, ``parse_rules(text, source)`` -> ``RuleSet``,
  ``check_rules_file(path)`` (the file's shape is in that module's docstring; every kind in
  ``docs/automod.example.yaml``).
- :mod:`~rosey.automod.model`: ``Rule``, ``Action``, ``RuleSet``, ``Hit``, ``RaidConfig``, each
  kind's parameters.
- :mod:`~rosey.automod.chat`: ``ChatJudge(rules).judge(Message) -> list[Hit]``.
- :mod:`~rosey.automod.playlist`: ``PlaylistJudge(rules).judge(Item, queued_by_user)``.
- the pieces: :mod:`~rosey.automod.fields` (typed field reading, one-line errors),
  :mod:`~rosey.automod.kinds` (each kind's fields), :mod:`~rosey.automod.raid` (the raid
  section), :mod:`~rosey.automod.yamlfile` (YAML without duplicate keys),
  :mod:`~rosey.automod.patterns` (``re2`` only, never ``re``, for moderators' patterns),
  :mod:`~rosey.automod.links`, :mod:`~rosey.automod.mediaid`, :mod:`~rosey.automod.normalise`,
  :mod:`~rosey.automod.message` (a line prepared once for every rule),
  :mod:`~rosey.automod.matchers` (the kinds that judge a line alone),
  :mod:`~rosey.automod.windows` (flood and repeats: what they remember, bounded).
"""
