"""Before training: should we fine-tune at all (`advise`), and what will it cost (`estimate`)."""
