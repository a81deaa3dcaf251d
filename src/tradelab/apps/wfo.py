"""`tradelab-wfo` (stub until the WFO engine issue lands)."""

from __future__ import annotations

from tradelab.apps._runtime import not_implemented, run_hydra_app

main = run_hydra_app("wfo", not_implemented("tradelab-wfo", "WFO engine issue"))

if __name__ == "__main__":
    main()
