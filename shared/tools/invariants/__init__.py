"""The invariant checker behind ``storecredit check``.

One module per area: ``ledger`` (balances, holds, double entry, floors,
commits and reversals), ``idempotency`` (inboxes: one key, one effect),
``outbox`` (nothing left unsent), ``orders`` and ``items`` (checked-out orders
reach the ledger and fulfillment), ``returns`` (every return reversed once),
``copies`` (copies agree with their source). ``runner`` runs them over
read-only snapshots, ``report`` prints, ``cli`` is the command.
"""
