"""Rollback Responder: the app's own shared code (events, rules, incidents, executor, adapters)."""
