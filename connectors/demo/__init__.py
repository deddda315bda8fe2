"""``trm demo``: six country nodes and a hub on a local broker, one realistic story.

:mod:`connectors.demo.setup` makes the keys, trust list and signed agreements in
the state directory; :mod:`connectors.demo.scenario` says what each country
sends and what must come of it; :mod:`connectors.demo.run` drives it and tells
the story.
"""

from __future__ import annotations

__all__: list[str] = []
