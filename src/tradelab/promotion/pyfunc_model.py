"""The registered model's code (MLflow "models from code": no pickle is ever loaded).

`mlflow.pyfunc.load_model("models:/tradelab.<family>.<target>@champion")` executes this file;
the model's `model_config` holds the family and its production configuration, and `predict`
answers with the family's positions held after each bar (strategies) or forecasts stamped on
the next sessions (forecasters). Versions carry a signature and an input example
(`tradelab.promotion.registry.model_example`); bad bars raise `DataValidationError`.
"""

from __future__ import annotations

from typing import Any

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel


class TradelabModel(PythonModel):
    """A promoted tradelab configuration that predicts on a bars frame."""

    def load_context(self, context: Any) -> None:
        from tradelab.promotion.families import family

        cfg = dict(context.model_config or {})
        self.family = cfg["family"]
        self.target = cfg["target"]
        self.config = cfg["config"]
        self._spec = family(self.family)

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        return self._spec.predict(self.config, frame)


mlflow.models.set_model(TradelabModel())
