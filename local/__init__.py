"""Not deployed (.funcignore): the CLI (explain, demo, serve), the local runner, the demo, the Azure emulator and
the local services (Azurite, redis-server) the demo and the tests start."""
