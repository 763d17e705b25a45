"""``cutout backfill SRC DEST``: re-process a catalogue of photos at ``batch`` priority,
resumably and exactly once per item (see runner.py for the guarantees)."""
