"""pytest-benchmark suites (``pytest bench/ --benchmark-only``) and the code they run on."""
