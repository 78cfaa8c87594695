"""The HTTP layer: thin routes over plain modules."""
