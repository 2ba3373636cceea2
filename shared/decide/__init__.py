"""Pure decisions: events and alert schemas, rules and `decide`, the Plan, statuses, the incident model,
command planning. No I/O here, and no SDK, redis, httpx or jwt import (an import-linter contract checks it)."""
