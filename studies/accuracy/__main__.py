"""``python -m studies.accuracy``: run (or resume) the accuracy grid; see ``campaign``."""

import sys

from studies.accuracy.campaign import main

if __name__ == "__main__":
    sys.exit(main())
