"""``python -m rosey.dbservice``: the DatabaseService, same as ``rosey-db``."""

import sys

from rosey.cli import db_main

sys.exit(db_main())
