"""Readers: one leaf module per raw input format (no reader imports another)."""
