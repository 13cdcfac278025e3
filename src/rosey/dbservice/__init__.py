"""The DatabaseService: the only process that writes the SQLite file.

- :mod:`~rosey.dbservice.service`: :class:`DatabaseService`, start-up, readiness, shutdown.
- :mod:`~rosey.dbservice.consumer`: the durable JetStream pull consumer (fetch, commit, ack).
- :mod:`~rosey.dbservice.fallback`: core-NATS subscriptions when the server has no JetStream.
- :mod:`~rosey.dbservice.ingest`: the path both share: decode, commit until committed or
  stopped, metrics and rejection logging.
- :mod:`~rosey.dbservice.responder`: the query subjects' replies.
"""
