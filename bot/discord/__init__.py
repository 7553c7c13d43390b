"""The Discord face of story-bot.

Pure modules hold the logic and have no network side effects: ``limits`` and ``render`` (pages
within Discord's limits), ``feedback`` (votes as JSON lines), ``cooldown``, ``registry`` (what a
message's buttons act on), ``conversations`` (thread history), ``routing`` (collections, which
messages to answer), and ``errors`` (one sentence per failure). ``backend`` runs the
answer core off the event loop. ``client`` (the bot and its factory), the cogs (``ask_cog``,
``docs_cog``, ``thread_cog``), ``buttons`` and ``replies`` are thin Discord glue over them, and
``runner`` is the ``storybot run`` entry point.
"""
