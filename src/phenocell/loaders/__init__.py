"""Readers of a published dataset: the torch tile dataset the benchmark streams, its decoded tile store."""
