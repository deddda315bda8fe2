"""Coverage-guided fuzzing (atheris) of every function that reads bytes or text from outside.

``targets.py`` is the registry (one target per door, and the parsers each one
reaches); ``run.py`` runs one target under libFuzzer; ``fuzz_all.py`` is
``make fuzz``; ``make_corpus.py`` rebuilds the seed corpus under ``corpus/``
from ``tests/vectors`` and ``schemas/examples``. docs/fuzzing.md says how.
"""
