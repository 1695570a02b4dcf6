"""Load generator and benchmark command: ``python -m bench``."""
