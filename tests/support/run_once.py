"""Deliver one run message for an incident to the queue trigger, in a process of its own (so a test can kill
it mid-step, as a crashed instance). Usage: python -m tests.support.run_once <incident id>"""

import asyncio
import json
import sys

from azure.functions.queue import QueueMessage


async def main(incident_id: str) -> None:
    from function_app import app
    from local.localrun import functions_of

    run = {fn.get_function_name(): fn.get_user_function() for fn in functions_of(app)}["run_incident"]
    await run(QueueMessage(id="doomed-instance", body=json.dumps({"incident_id": incident_id}).encode(),
                           dequeue_count=1))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
