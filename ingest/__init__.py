"""Ingest: the HTTP function that takes uploads, creates jobs and answers polls."""
