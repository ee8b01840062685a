"""Independent held-out evaluation generator: real Porto trips with fraud and GPS noise injected by
code written without reading tripguard's detectors or its own simulator (see README.md)."""
