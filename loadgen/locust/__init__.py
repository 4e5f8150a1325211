"""The Locust face: the charge point User, the stage shape, and the one module that touches
Locust's internals (compat)."""
