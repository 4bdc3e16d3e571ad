"""The edge of the system: storage, buses, venues, artifact stores."""
