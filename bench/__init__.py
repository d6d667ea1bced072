"""trackerbench harness: measure what an experiment tracker costs a training run."""

SCHEMA_VERSION = 2
"""Version of the ``runs.jsonl`` record and ``meta.json`` layout written by this harness."""
