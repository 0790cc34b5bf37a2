import sys

from fusionpot.cli import main

sys.exit(main())
