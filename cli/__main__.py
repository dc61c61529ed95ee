import sys

from quayscan.cli import main

sys.exit(main())
