"""hublint's edges: the Hub, directories, rendering, the CLI. The rules themselves live in `rules`."""

__version__ = "0.1.0"
