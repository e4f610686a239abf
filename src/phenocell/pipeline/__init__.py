"""Orchestration of convert / qc / export: the only place that wires readers, blocks, writer and card."""
