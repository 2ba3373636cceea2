"""The announcers: what is told of an incident's lifecycle moments (shared/decide/moments.py), one module each,
run as side jobs by shared/run/moments.py, never inside an incident's run (see Subscriber there).

Adding one: write announcers/<name>.py with an object having `name`, `wants(services, moment)` and
`handle(services, incident, moment)`, and add it to the tuple below.
"""

from __future__ import annotations

SUBSCRIBERS: tuple = ()
