"""The fulfillment service: auto-fulfillment commits, returns and reversals."""
