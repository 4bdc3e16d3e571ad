"""Learning loop: model registry (and, later, continuous learning, shadow, A/B)."""
