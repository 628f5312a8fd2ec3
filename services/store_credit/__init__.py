"""The store-credit service: templates, point accounts, store-credit instruments."""
