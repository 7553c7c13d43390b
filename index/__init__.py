"""Loading, chunking, embedding, storing and retrieving documents.

Nothing in this package knows about Discord or about answering questions.
"""
