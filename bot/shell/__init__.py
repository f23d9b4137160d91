"""``zdm shell``: use the bot from a terminal, no Slack needed.

Type ``/zdm …`` commands, press buttons by number, and watch what the bot posts to each channel. Every command
and click is a real, signed Slack request handled by the same Bolt listeners as in production; what the bot
posts goes to the local Slack emulator, which prints it here.

Its parts: ``session`` (the shell: reading lines, sending signed requests, printing what the bot posts),
``render`` (Block Kit as terminal text), ``buttons`` (the numbered buttons and checkboxes shown) and
``controls`` (what the demo lets the shell steer: clock, scheduler, traffic).
"""

from bot.shell.controls import DemoControls
from bot.shell.session import SHELL_HELP, Shell

__all__ = ["SHELL_HELP", "DemoControls", "Shell"]
