"""The stand-in CyTube server (see :mod:`tests.support.cytube.server` for what it models)."""

from tests.support.cytube.limits import RateLimit
from tests.support.cytube.model import LoginReply
from tests.support.cytube.server import CyTubeTestServer, HandlerErrors
from tests.support.cytube.wire import escape_text, format_chat

__all__ = ["CyTubeTestServer", "HandlerErrors", "LoginReply", "RateLimit", "escape_text",
           "format_chat"]
