"""Ensemble of direction models: weighted soft vote with a minimum consensus."""

from quantum_trader.models.ensemble.consensus import Consensus, consensus
from quantum_trader.models.ensemble.ensemble import Ensemble, EnsembleConfig, EnsembleDecision
from quantum_trader.models.ensemble.member import (
    Abstention,
    DisabledMember,
    Member,
    MemberId,
    TabularMember,
    VoteContext,
)
from quantum_trader.models.ensemble.weights import EqualWeights, Weighting, WeightProvider

__all__ = [
    "Abstention",
    "Consensus",
    "DisabledMember",
    "Ensemble",
    "EnsembleConfig",
    "EnsembleDecision",
    "EqualWeights",
    "Member",
    "MemberId",
    "TabularMember",
    "VoteContext",
    "WeightProvider",
    "Weighting",
    "consensus",
]
