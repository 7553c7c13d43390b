"""The optional chat-model path: building the model, prompts, verification, the answer chain."""
