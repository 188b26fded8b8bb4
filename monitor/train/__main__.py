"""``python -m monitor.train --config FILE``: ``sdo-monitor train`` (also under torchrun)."""

import os
import sys

if __name__ == "__main__":   # not when a spawned worker re-imports this module
    # Before torch is imported: OpenMP threads that spin while waiting slow training
    # by an order of magnitude when the cores are shared (see pipeline._threads).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

    from monitor.train.command import main

    sys.exit(main())
