"""Local stand-ins for the network edges: the Slack emulator (Web API, files) and GitHub / PagerDuty servers,
used by `zdm demo`, local mode and the tests."""

# How often a local server's loop looks up to see whether it was asked to stop: ``stop()`` waits up to this long
# (the standard library's half a second, paid by every test that starts one).
STOP_POLL_S = 0.02
