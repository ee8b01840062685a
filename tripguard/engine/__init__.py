"""The engine: pure, no I/O. `core.Engine` turns micro-batches (`batch`) into alerts and verdicts;
its trips live in `trips` (metadata and kernel state slots) and `pathlog` (accepted fixes); `alerts`
builds the contract's alerts from findings; `tripstate` is the format of a trip's state records."""
