"""Developer tools: event generation, the demo and benchmark helpers (not part of the Lambda package)."""
