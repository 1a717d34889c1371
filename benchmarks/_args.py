"""Command-line flags from a benchmark's settings dataclass: ``--name`` per field, booleans as switches."""
from __future__ import annotations

import argparse
from typing import Any


def parse_dataclass_args(cls: type, description: str) -> Any:
    parser = argparse.ArgumentParser(description=description)
    for name, default in vars(cls()).items():
        flag = "--" + name.replace("_", "-")
        if isinstance(default, bool):
            parser.add_argument(flag, action="store_true")
        else:
            parser.add_argument(flag, type=type(default), default=default)
    return cls(**vars(parser.parse_args()))
