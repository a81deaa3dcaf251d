"""`tradelab-analyze` (stub until the WFO results issue lands)."""

from __future__ import annotations

from tradelab.apps._runtime import not_implemented, run_hydra_app

main = run_hydra_app("analyze", not_implemented("tradelab-analyze", "WFO results issue"))

if __name__ == "__main__":
    main()
