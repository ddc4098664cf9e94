"""Scoring plugins: one named term per plugin, 0..1 for every candidate agent at once."""
