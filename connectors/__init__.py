"""What a country node runs: the SDK, the ``trm`` CLI, the HTTP gateway, importers.

``connectors`` imports ``hub``; ``hub`` never imports ``connectors``.
"""
