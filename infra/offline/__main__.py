import sys

from infra.offline.cli import main

sys.exit(main())
