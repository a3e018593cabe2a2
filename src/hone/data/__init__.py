"""Data: read JSONL/CSV rows with exact line numbers, check them, split them deterministically."""
