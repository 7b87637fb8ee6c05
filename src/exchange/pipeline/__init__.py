"""The pipeline between the edges and the engine: sequencer, journal, read model, and the
settings and counters they share. Imports the engine and the store, never an edge."""
