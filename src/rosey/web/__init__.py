"""The web process (``rosey-web``, docs/web.md): the channel's public page and the moderators'
view, read only over NATS request/reply (it never opens SQLite), served by aiohttp.web with
Jinja2 templates (autoescaped) and uPlot charts from static files.

- :mod:`~rosey.web.settings`: WebSettings from ``ROSEY_WEB_*`` and the NATS settings;
- :mod:`~rosey.web.reader`: asking the DatabaseService and the bot, one typed answer or
  :class:`~rosey.web.reader.Unavailable`;
- :mod:`~rosey.web.sessions`: moderators' sessions (server-side, in memory);
- :mod:`~rosey.web.guard`: who may see the moderators' view: the session and the bot's word
  on the rank, checked at least every minute;
- :mod:`~rosey.web.login`: ``/login/<token>`` and ``/logout``, rate-limited per address;
- :mod:`~rosey.web.public`: the public page, the user page and their JSON;
- :mod:`~rosey.web.moderators`: the moderators' view and its JSON;
- :mod:`~rosey.web.shape`: replies -> the JSON and template values the pages show;
- :mod:`~rosey.web.security`: headers on every answer (CSP), request metrics;
- :mod:`~rosey.web.app`: the routes, templates, static files, ``/metrics`` ``/healthz``
  ``/readyz``;
- :mod:`~rosey.web.service`: WebService: listen, connect NATS, run, stop;
- :mod:`~rosey.web.cli`: ``rosey-web`` / ``python -m rosey.web``.
"""
