"""``python -m bot``: the same as the ``storybot`` command."""

from bot.cli import main

main()
