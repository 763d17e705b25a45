"""Segmenters: photo in, alpha matte out, behind one interface and one registry."""
