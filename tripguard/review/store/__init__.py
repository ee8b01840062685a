"""The review service's data access: the SQLite database (db.py) and the SQL of each kind of record
it holds -- alerts, verdicts and trip details (records.py, written by ingest.py), disputes and their
decisions (disputes.py), drivers' risk (drivers.py), tokens, browser sessions and the audit log.

No HTTP here: store/ imports neither FastAPI nor api/ or pages/ (tests/test_import_rules.py), so
the command line, the Kafka feed and the routes share one way to read and write each thing.
Optional filters are built by one builder, db.Where.
"""
