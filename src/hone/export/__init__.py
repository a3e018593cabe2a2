"""Exports: a run's model or outputs in a form other tools load without hone (adapters, merged weights)."""
