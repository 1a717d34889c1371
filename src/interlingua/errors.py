"""Exceptions whose messages are meant for the user: they name the file, line or key at fault."""
from __future__ import annotations


class InterlinguaError(Exception):
    """Base class; the CLI prints these as one clean line instead of a traceback."""


class ConfigError(InterlinguaError, ValueError):
    """A config key is unknown, mistyped or out of range."""


class CorpusError(InterlinguaError, ValueError):
    """A corpus file is missing, malformed, empty or misaligned."""


class NotApplicable(ConfigError):
    """An evaluation cannot score this kind of model (e.g. word alignment of a model without hidden states)."""


class CheckpointError(InterlinguaError, ValueError):
    """A checkpoint or model folder is missing, incomplete or inconsistent."""


class OutputError(InterlinguaError):
    """An output file or folder cannot be written, or writing it would destroy files it must not."""


class TrainingError(InterlinguaError):
    """Training cannot go on (a non-finite loss or gradient); nothing good already written is replaced."""
