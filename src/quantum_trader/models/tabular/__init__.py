"""Gradient-boosted tree members (XGBoost, LightGBM) on the engineered feature rows."""

from quantum_trader.models.tabular.base import TabularModel
from quantum_trader.models.tabular.lgbm import LgbmModel
from quantum_trader.models.tabular.xgb import XgbModel

__all__ = ["LgbmModel", "TabularModel", "XgbModel"]
