import sys

from vimo.cli import main

sys.exit(main())
