"""Orchestration per family: sweep -> statistics -> exports -> tracking; the apps call these.

One module per family, imported directly (an app loads only its own family's code):
`tradelab.jobs.ingest`, `tradelab.jobs.wfo`, `tradelab.jobs.kalman`, `tradelab.jobs.forecast`;
`tradelab.jobs.base.OpenJob` is how a job opens tracked runs.
"""
