"""Running incidents: the queue-triggered execute, the poison-queue handler and the reconciler timer."""

from __future__ import annotations

import logging

import azure.functions as func

from shared.redact import about

bp = func.Blueprint()
log = logging.getLogger("responder.runs")


@bp.queue_trigger(arg_name="msg", queue_name="%RESPONDER_QUEUE%", connection="AzureWebJobsStorage")
async def run_incident(msg: func.QueueMessage) -> None:
    """Execute (or continue) the incident's plan. Raising makes the host retry the message, then poison it."""
    from shared import services
    from shared.run import execute, moments
    from shared.store import queue

    try:
        message = queue.decode(msg.get_body())
    except ValueError as error:
        log.error("dropped a run message that is not one of ours (%s): %s", msg.id, error)
        return
    incident_id = message["incident_id"]
    with about(incident_id):  # every line logged meanwhile, a failure's traceback included, names the incident
        try:
            if message.get("job") == moments.JOB:  # side work: announcing the incident's lifecycle moments
                outcome = await moments.announce(services.current(), incident_id)
            else:
                outcome = await execute.run(services.current(), incident_id,
                                            run_id=f"{msg.id}/{msg.dequeue_count or 1}")
        except Exception:
            log.exception("run of %s failed (delivery %s); the queue retries it", incident_id, msg.dequeue_count)
            raise
    log.info("run of %s: %s", incident_id, outcome, extra={"incident_id": incident_id})


@bp.queue_trigger(arg_name="msg", queue_name="%RESPONDER_QUEUE%-poison", connection="AzureWebJobsStorage")
async def fail_poisoned_run(msg: func.QueueMessage) -> None:
    """The host gave up on a run message (host.json maxDequeueCount): its incident ends failed, with the reason.
    A side job given up on leaves the incident as it is (its failure goes on the timeline)."""
    from shared import services
    from shared.run import execute, moments
    from shared.store import queue

    try:
        message = queue.decode(msg.get_body())
    except ValueError as error:
        log.error("dropped a poisoned message that is not one of ours (%s): %s", msg.id, error)
        return
    if message.get("job") == moments.JOB:
        outcome = await moments.give_up(services.current(), message["incident_id"])
    else:
        outcome = await execute.fail_poisoned(services.current(), message["incident_id"])
    log.warning("poisoned run of %s: %s", message["incident_id"], outcome,
                extra={"incident_id": message["incident_id"]})


@bp.timer_trigger(arg_name="timer", schedule="0 */1 * * * *", run_on_startup=False,
                  use_monitor=True)
async def reconcile_incidents(timer: func.TimerRequest) -> None:
    """Re-drive incidents stuck in a non-final status (a lost message loses nothing)."""
    from shared import services
    from shared.run import reconcile

    summary = await reconcile.reconcile(services.current())
    if summary.redriven or summary.failed or summary.expired or summary.announced:
        log.warning("reconciler: %s", summary)


@bp.timer_trigger(arg_name="timer", schedule="0 17 3 * * *", run_on_startup=False, use_monitor=True)
async def remove_expired_incidents(timer: func.TimerRequest) -> None:
    """Daily: delete closed incidents older than RESPONDER_RETENTION (with their timeline)."""
    from shared import services
    from shared.run import reconcile

    removed = await reconcile.remove_expired(services.current())
    if removed:
        log.info("retention: removed %d closed incident(s)", removed)
