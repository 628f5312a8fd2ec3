from shared.main import run_service

run_service("ledger")
