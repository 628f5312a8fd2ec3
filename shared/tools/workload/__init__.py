"""A seeded, reproducible workload that drives every flow at once: many customers with
template accounts, deposits, store credits, carts paid with points, credit and cards,
checkouts, cancellations, shipments and returns. The reliability suite runs it (with
faults around it) and then checks the invariants."""
