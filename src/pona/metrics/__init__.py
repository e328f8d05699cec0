"""Metrics: arrays in, numbers out. No checkpoint is loaded here."""
