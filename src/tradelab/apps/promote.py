"""`tradelab-promote` (stub until the promotion issue lands)."""

from __future__ import annotations

from tradelab.apps._runtime import not_implemented, run_hydra_app

main = run_hydra_app("promote", not_implemented("tradelab-promote", "promotion issue"))

if __name__ == "__main__":
    main()
