"""The ledger: balances, point transactions and double-entry postings."""
