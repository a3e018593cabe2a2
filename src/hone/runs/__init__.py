"""Run directories and the SQLite registry that indexes them."""
