"""Import this first in a benchmark that answers in-process: it sets story-bot's offline
environment before torch loads.

OpenMP reads ``OMP_WAIT_POLICY`` once, when torch loads it. ``bot.service`` imports torch (through
the reader), so a benchmark importing it before :func:`index.embeddings.force_offline` has run gets
spinning OpenMP workers: on this 2-core machine, with another process busy, a question's MiniLM
embedding then takes 50-220 ms instead of 18 ms. The ``storybot`` command sets the environment
before anything loads torch, so this is what users get.
"""

from index.embeddings import force_offline

force_offline()
