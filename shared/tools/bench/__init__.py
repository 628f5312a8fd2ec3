"""``make bench`` (``python -m shared.tools.bench``): how fast the system is, and how fast the
machine under it could be, measured in one run on one machine.

The raw limits (Kafka produce and consume with aiokafka, PostgreSQL inserts batched
and one per transaction) bound what the services can reach; the ledger's sustained
command rate is what they reach today. One table is printed and the same figures are
written as JSON, so two runs (or two commits) can be compared.
"""
