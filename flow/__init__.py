"""Command line, design-space exploration and reports (the ``numfmt`` command)."""
