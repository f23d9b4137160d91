"""Local stand-ins for outside HTTP APIs, speaking their wire formats: GitHub issues, contents, refs and pull
requests (and, for alerting, PagerDuty's Events API). ``zdm demo`` starts them when no real token is set; the
tests use them as the network edge and read back every request they received.
"""

from bot.local.github import GitHubStandIn
from bot.local.json_stand_in import JsonStandIn, Received, Reply
from bot.local.pagerduty import PagerDutyStandIn

__all__ = ["GitHubStandIn", "JsonStandIn", "PagerDutyStandIn", "Received", "Reply"]
