"""Batch import of national exports (CSV, JSON Lines) through a country node."""

from __future__ import annotations

from .mapping import (
    MAX_MAPPING_BYTES,
    FieldSpec,
    Mapping_,
    RowError,
    load_mapping,
    load_mapping_file,
    read_mapping,
)
from .run import MAX_ROW_BYTES, ImportSummary, import_file, node_trouble, read_rows

__all__ = [
    "MAX_MAPPING_BYTES",
    "MAX_ROW_BYTES",
    "FieldSpec",
    "ImportSummary",
    "Mapping_",
    "RowError",
    "import_file",
    "load_mapping",
    "load_mapping_file",
    "node_trouble",
    "read_mapping",
    "read_rows",
]
