"""``python -m connectors.cli``: ``trm`` run by this very interpreter (as ``trm up`` does)."""

from connectors.cli import main

main(prog_name="trm")
