"""Pure analysis for the six-construct customer satisfaction index model (no Flask, no database)."""
