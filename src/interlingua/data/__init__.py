"""Corpora readers, language sampling, masking, batch types and collators."""
