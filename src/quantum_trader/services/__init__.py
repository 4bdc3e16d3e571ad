"""Running the system as several processes: the supervisor of ``quantum-trader up``."""
