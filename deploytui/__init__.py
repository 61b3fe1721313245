"""deploytui: a terminal console for Harper-style deployments."""

__version__ = "0.1.0"
HARPER_API_LEVEL = "5.1.0"
