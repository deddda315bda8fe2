"""Batch import of national exports (CSV, JSON Lines) through a country node."""

from __future__ import annotations

from .mapping import FieldSpec, Mapping_, RowError, load_mapping
from .run import ImportSummary, import_file, read_rows

__all__ = [
    "FieldSpec",
    "ImportSummary",
    "Mapping_",
    "RowError",
    "import_file",
    "load_mapping",
    "read_rows",
]
