"""The COMMIT statistics (pure): indicators, their tables, and small-cell suppression.

docs/statistics.md explains each indicator, its source and the suppression
rule; docs/protocol.md section 15 specifies the signed ``statistics_report``
event.

- :mod:`hub.stats.indicators`: the indicators from a node's vault records.
- :mod:`hub.stats.tables`: :class:`Cell`, :class:`Table`, :class:`Frame`.
- :mod:`hub.stats.suppression`: primary and complementary suppression.
- :mod:`hub.stats.protection`: the interval audit (linear programs, HiGHS).
- :mod:`hub.stats.report`: the report payload, the regional sum.
- :mod:`hub.stats.render`: report.json, the CSVs and report.html.
"""

from .indicators import Period, count_indicators, table_specs
from .protection import Audit, Interval, Problem, intervals
from .report import Regional, interior_of, regional, report_payload
from .suppression import (
    DEFAULT_K,
    Linked,
    Outcome,
    TableSpec,
    protect,
    suppress_linked,
    suppress_together,
)
from .tables import TOTAL, Cell, Frame, Table

__all__ = [
    "DEFAULT_K",
    "TOTAL",
    "Audit",
    "Cell",
    "Frame",
    "Interval",
    "Linked",
    "Outcome",
    "Period",
    "Problem",
    "Regional",
    "Table",
    "TableSpec",
    "count_indicators",
    "interior_of",
    "intervals",
    "protect",
    "regional",
    "report_payload",
    "suppress_linked",
    "suppress_together",
    "table_specs",
]
