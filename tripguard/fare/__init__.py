"""Fare model: tariffs, expected fare, fitting from trip records, fare alerts."""
