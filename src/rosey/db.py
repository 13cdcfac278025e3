"""``python -m rosey.db``: the short spelling of ``python -m rosey.dbservice`` (``rosey-db``).

Only an entry point: ``rosey up`` and the resilience tests start the DatabaseService this way.
"""

import sys

from rosey.cli import db_main

if __name__ == "__main__":
    sys.exit(db_main())
