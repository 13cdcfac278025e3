"""The SQLite store; knows nothing about NATS.

- :mod:`~rosey.store.store`: :class:`Store` (one writer and one reader thread), ``Incoming``.
- :mod:`~rosey.store.schema`: tables, pragmas, migrations.
- :mod:`~rosey.store.writes`: applying events (the write side).
- :mod:`~rosey.store.queries`: the contract's queries (the read side).
- :mod:`~rosey.store.moderation`: the moderation record and raid mode (their events and
  queries).
- :mod:`~rosey.store.media`: media plays (their event, recently and most played).
- :mod:`~rosey.store.activity`: the web page's graph, chat by hour and the channel now.
- :mod:`~rosey.store.answers`: every query and its answer (``run_query``).
"""
