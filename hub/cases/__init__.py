"""A victim's case across the border (pure): statuses, their order, timeline, overdue.

docs/protocol.md section 14 specifies the lifecycle events (``case_update``,
``reintegration_report``, ``case_alert``) this package reasons about.
"""
