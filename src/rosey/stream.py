"""The JetStream stream that captures Rosey's events.

It captures exactly the event subjects of the contract and of the moderation record
(``contract.STREAM_SUBJECTS``, ``docs/moderation.md``) and never a query subject: a stream
that captured a request subject would answer the request with its publish acknowledgement.
Core-NATS publishers (``nats pub rosey.db.user.joined ...``) are captured like any other.

The DatabaseService calls :func:`ensure_stream` with ``update=True`` at start (create, or bring
replicas and limits to its settings); the bot calls it with ``update=False`` so its events are
captured even before the DatabaseService has ever run, without fighting over the settings.
"""

from __future__ import annotations

import structlog
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig, StreamInfo
from nats.js.errors import BadRequestError, NotFoundError

from rosey import contract
from rosey.config import StreamSettings
from rosey.errors import StreamConfigError

__all__ = ["stream_config", "ensure_stream"]

log = structlog.get_logger()


def stream_config(settings: StreamSettings) -> StreamConfig:
    return StreamConfig(
        name=contract.STREAM_NAME,
        description="Rosey channel events for the DatabaseService",
        subjects=list(contract.STREAM_SUBJECTS),
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        num_replicas=settings.replicas,
        max_age=settings.max_age_seconds,
        max_bytes=settings.max_bytes,
        duplicate_window=settings.duplicate_window_seconds,
        max_msg_size=contract.MAX_PAYLOAD_BYTES,
    )


async def ensure_stream(js: JetStreamContext, settings: StreamSettings, *,
                        update: bool) -> StreamInfo:
    """Create the stream if it is missing; with ``update``, also bring its config up to date.
    Returns the stream as it now is (its config may differ from ``settings`` without
    ``update``)."""
    config = stream_config(settings)
    try:
        info = await js.stream_info(contract.STREAM_NAME)
    except NotFoundError:
        try:
            created = await js.add_stream(config)
        except BadRequestError as exc:
            raise StreamConfigError(f"cannot create stream {contract.STREAM_NAME}: {exc}") from exc
        log.info("stream_created", stream=contract.STREAM_NAME, replicas=settings.replicas)
        return created
    if not update:
        return info
    current = info.config
    wanted = (sorted(config.subjects or []), config.num_replicas, config.max_age,
              config.max_bytes, config.duplicate_window)
    have = (sorted(current.subjects or []), current.num_replicas, current.max_age,
            current.max_bytes, current.duplicate_window)
    if wanted == have:
        return info
    try:
        updated = await js.update_stream(config)
    except BadRequestError as exc:
        raise StreamConfigError(f"cannot update stream {contract.STREAM_NAME}: {exc}") from exc
    log.info("stream_updated", stream=contract.STREAM_NAME, replicas=settings.replicas)
    return updated
