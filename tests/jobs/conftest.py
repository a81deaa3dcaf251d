"""The forecast fixtures (bars, a tiny Toto checkpoint) serve the forecast job's tests too."""

from tests.forecast.conftest import bars, toto_dir  # noqa: F401
