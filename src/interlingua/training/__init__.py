"""Trainer loop, optimisation, checkpoints and distributed helpers."""
