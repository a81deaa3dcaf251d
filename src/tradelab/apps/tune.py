"""`tradelab-tune` (stub until the Kalman and forecast issues lands)."""

from __future__ import annotations

from tradelab.apps._runtime import not_implemented, run_hydra_app

main = run_hydra_app("tune", not_implemented("tradelab-tune", "Kalman and forecast issues"))

if __name__ == "__main__":
    main()
