"""Answering: the Answer/Citation data, the answer chain, the offline answerers, evaluation."""

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"
"""The learned reader's weights (``reader.safetensors``, ``reader.json``) and the models fitted on
top of it (``answerer.json``): shipped with the package, read at load time, never downloaded."""
