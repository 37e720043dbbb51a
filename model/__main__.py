"""`python -m model` entry point."""
from .cli import main

raise SystemExit(main())
