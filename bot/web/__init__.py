"""``zdm demo --web``: the demo's local Slack emulator as a web page (see ``bot.web.server``)."""
