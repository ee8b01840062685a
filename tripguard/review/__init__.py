"""The review service (`tripguard serve`): disputed trips, evidence, decisions.

HTTP API with bearer-token roles and a server-rendered review page, over a SQLite database
fed from tripguard.alerts / tripguard.verdicts (Kafka) or a replay output directory.

store/ is the data access, api/ the JSON routes (a module a resource), pages/ the review page;
common.py holds what api/ and pages/ share, text.py, geometry.py and errors.py what all use.
app.py builds the application, serve.py runs it, kafka.py connects it to the broker.
"""
