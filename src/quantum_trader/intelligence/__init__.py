"""Ensemble intelligence: memory states, reinforcement, drift detection, covariate shift."""

from quantum_trader.intelligence.covariate_shift import (
    CovariateShiftConfig,
    CovariateShiftMonitor,
    ShiftReference,
    ShiftReport,
)
from quantum_trader.intelligence.detector import CusumConfig, CusumDetector, Detection
from quantum_trader.intelligence.drift import DriftConfig, DriftMonitor
from quantum_trader.intelligence.ledger import (
    LabelSource,
    Prediction,
    PredictionLedger,
    ResolvedPrediction,
    horizon_end_time,
)
from quantum_trader.intelligence.memory_states import MemoryStates, MemoryStatesConfig
from quantum_trader.intelligence.reinforcement import Reinforcement, ReinforcementConfig
from quantum_trader.intelligence.service import MODULES, Intelligence, IntelligenceConfig
from quantum_trader.intelligence.state import StateRepository
from quantum_trader.intelligence.weights import AdaptiveWeights, WeightAdjuster

__all__ = [
    "MODULES",
    "AdaptiveWeights",
    "CovariateShiftConfig",
    "CovariateShiftMonitor",
    "CusumConfig",
    "CusumDetector",
    "Detection",
    "DriftConfig",
    "DriftMonitor",
    "Intelligence",
    "IntelligenceConfig",
    "LabelSource",
    "MemoryStates",
    "MemoryStatesConfig",
    "Prediction",
    "PredictionLedger",
    "Reinforcement",
    "ReinforcementConfig",
    "ResolvedPrediction",
    "ShiftReference",
    "ShiftReport",
    "StateRepository",
    "WeightAdjuster",
    "horizon_end_time",
]
