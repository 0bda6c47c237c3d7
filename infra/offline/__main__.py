import gc
import os
import sys

from infra.offline.check_cache import cached_check

# A re-check of an unchanged stack is answered before the SDK, the program or the pack is imported.
code = cached_check(sys.argv[1:])
if code is None:
    from infra import sdk
    from infra.offline.cli import main

    code = main()
    if not os.environ.get(sdk.NO_SPEEDUPS):
        # Everything left is about to go: the interpreter's last full collection would scan the millions of
        # objects a render leaves (about 0.4 s of CPU at 200 services) only to free them. Frozen, they are
        # skipped; output is flushed and closed as usual, and the pack process has already been stopped.
        gc.freeze()
sys.exit(code)
