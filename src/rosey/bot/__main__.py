"""``python -m rosey.bot``: the bot, same as ``rosey-bot``."""

import sys

from rosey.cli import bot_main

sys.exit(bot_main())
