"""cutout's shared core: the job contract, settings, ports and adapters, the CLI."""

__version__ = "0.1.0"
