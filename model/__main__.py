"""`python -m model` entry point."""
raise SystemExit(0)
