"""The review service (`tripguard serve`): disputed trips, evidence, decisions.

HTTP API with bearer-token roles and a server-rendered review page, over a SQLite database
fed from tripguard.alerts / tripguard.verdicts (Kafka) or a replay output directory.
"""
