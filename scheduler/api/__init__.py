"""The REST API: sweeps, trials, metrics and events, with an OpenAPI schema at /api/schema/."""
