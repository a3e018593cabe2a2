"""hone: turn a pretrained language model into a specialist for one task."""
