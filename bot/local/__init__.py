"""Local stand-ins for the network edges: the Slack emulator (Web API, files) and GitHub / PagerDuty servers,
used by `zdm demo`, local mode and the tests."""

from http.server import ThreadingHTTPServer

# How often a local server's loop looks up to see whether it was asked to stop: ``stop()`` waits up to this long
# (the standard library's half a second, paid by every test that starts one).
STOP_POLL_S = 0.02


class LocalHTTPServer(ThreadingHTTPServer):
    """The standard library's threading HTTP server with a real service's listen backlog: its default of 5 drops
    the SYN of a sixth simultaneous connection (the kernel logs "possible SYN flooding") and that client only
    retries a second later, which no real Slack or GitHub endpoint does."""

    request_queue_size = 128
