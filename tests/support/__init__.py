"""Test helpers shared by several test modules (fixtures, emulator harness)."""
