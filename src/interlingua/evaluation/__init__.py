"""Evaluation: pure retrieval metrics, benchmark tasks (Tatoeba, FLORES), embedders and baselines, reports."""
