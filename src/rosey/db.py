"""``python -m rosey.db``: the DatabaseService, same as ``rosey-db``."""

import sys

from rosey.cli import db_main

if __name__ == "__main__":
    sys.exit(db_main())
