"""Answering: the Answer/Citation data, the answer chain, the offline answerers, evaluation."""
