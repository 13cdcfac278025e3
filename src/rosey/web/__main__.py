"""``python -m rosey.web``: the web process, same as ``rosey-web``."""

import sys

from rosey.web.cli import main

sys.exit(main())
