"""Local stand-ins for the network edges: the Slack emulator (Web API, files) and GitHub / PagerDuty servers,
used by `zdm demo`, local mode and the tests."""
