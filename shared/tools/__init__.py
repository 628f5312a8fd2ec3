"""For developers and operators, never imported by the services or the runtime: the
``storecredit`` command line, the local stack, the operator's commands, the invariant
checker, the benchmark, the seed stories, the workload and the clients."""
