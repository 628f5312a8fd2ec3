from shared.runtime.main import run_service

run_service("order")
