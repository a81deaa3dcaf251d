"""`tradelab-ingest` (stub until the market data issue lands)."""

from __future__ import annotations

from tradelab.apps._runtime import not_implemented, run_hydra_app

main = run_hydra_app("ingest", not_implemented("tradelab-ingest", "market data issue"))

if __name__ == "__main__":
    main()
