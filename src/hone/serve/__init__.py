"""Serving: one process, every run's model, OpenAI-compatible routes plus task routes (see `app.py`)."""
