"""The ``cutout`` command line."""
