"""Table Storage and the queue: the incident store, cooldowns and leases, the run queue."""
