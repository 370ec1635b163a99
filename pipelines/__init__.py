"""Entry points: option parsing and the wiring of `transforms`."""
