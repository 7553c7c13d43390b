"""story-bot: answers, summaries, the CLI and the Discord adapter."""
