"""The order service: carts, line items, applied store credit, checkout."""
