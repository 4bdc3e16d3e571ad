"""Ensemble members: the model protocol, tabular (xgb, lgbm) and forecasting (nhits, patchtst)."""
