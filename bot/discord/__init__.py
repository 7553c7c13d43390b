"""The Discord face of story-bot.

Pure modules hold the logic and have no network side effects: ``limits`` and ``render`` (concise
pages within Discord's limits), ``shown`` (an answer's saved payload and how it renders),
``chitchat`` (thanks and laughter need a reaction, not an answer), ``cooldown``, ``routing``
(collections, and which messages are addressed to the bot), ``feedback`` (votes and user
pseudonyms), ``stats_page`` (the ``/stats`` page), ``server_settings`` (what ``/settings`` stores
and how the bot obeys it), ``progress`` (throttled progress edits) and ``errors`` (one sentence per
failure).
``state`` keeps conversations, the answers behind buttons and votes in the database
(``bot.state``), and ``backend`` runs the answer core off the event loop. ``client`` (the bot and
its factory), the cogs (``ask_cog``, ``docs_cog``, ``settings_cog``, ``thread_cog``, ``stats_cog``), ``buttons``,
``vote_reason`` (the 👎 modal) and ``replies`` are thin Discord glue over them, and ``runner`` is
the ``storybot run`` entry point.
"""
