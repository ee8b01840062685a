"""Offline tools: scoring alerts against labels (`evaluate`) and the contract's JSON Schema files
(`schemas`)."""
