"""The batch worker: pull jobs, segment, run effects, store results."""
