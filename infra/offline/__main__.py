import sys

from infra.offline.check_cache import cached_check

# A re-check of an unchanged stack is answered before the SDK, the program or the pack is imported.
code = cached_check(sys.argv[1:])
if code is None:
    from infra.offline.cli import main

    code = main()
sys.exit(code)
