"""What every service imports: service wiring, settings, database, broker, the envelope
codec, the inbox, the outbox and its relay, the consumer pipeline, dead letters,
redaction, code sealing, periodic jobs, metrics, health and provisioning. It never
imports ``shared.tools`` (``tests/unit/test_layout.py``)."""
