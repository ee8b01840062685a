"""The driver-risk stage: each driver's trips and reviewers' decisions in event-time windows, an
explainable score, and a driver_risk event when a driver's level changes. Pure (no I/O): `replay`
and the Kafka loop (tripguard.stream.risk_worker) feed the same RiskStage. docs/risk.md.

params.py   the per-city parameters ([<city>.risk] of data/cities.toml)
history.py  one driver's recent trips and decisions (and their changelog encoding)
patterns.py what no single trip shows: overlapping trips, two places at once, repeated inflation
score.py    the score, the level, the windows and the evidence of one driver at one time
stage.py    records in event-time order, duplicates dropped, bad input rejected, events out
"""
