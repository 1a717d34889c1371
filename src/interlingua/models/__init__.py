"""Encoder, heads, dual encoder and the Hugging Face bridge."""
