"""The COMMIT statistics (pure): indicators, their tables, and small-cell suppression.

docs/statistics.md explains each indicator, its source and the suppression
rule; docs/protocol.md specifies the signed ``statistics_report`` event.
"""
