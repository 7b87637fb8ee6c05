"""The HTTP edge: the Quart-Trio app, request models, authentication and rendering."""
