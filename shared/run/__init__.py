"""Effects in flow order: accept an event, execute its plan (the executor and the step context), approvals,
reconcile."""
