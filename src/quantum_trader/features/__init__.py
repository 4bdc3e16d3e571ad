"""Feature pipeline and labels: one definition for batch training and streaming updates."""
