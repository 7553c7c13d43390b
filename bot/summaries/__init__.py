"""Cited summaries: tl;dr, key points, timeline, who's who, quotes, and the model rewrite."""
