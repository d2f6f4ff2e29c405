"""The ``tessera`` command."""
