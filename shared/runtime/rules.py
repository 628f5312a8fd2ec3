"""The rejection of a command: a broken rule with a code for machines and a
sentence for people. Pure (no Kafka, no SQL), so domain modules subclass it:
a domain error raised anywhere in a handler becomes the command's rejected
result, and the handler's database changes are rolled back."""

from __future__ import annotations


class Rejected(Exception):
    """A command that is refused: ``code`` for machines, ``reason`` for people.

    A ``retryable`` refusal depends on a state that may soon change (a copy of
    another service's data that has not arrived yet): it is answered, but the
    idempotency key is not bound to it, so a retry with the same key (a new
    message) is handled afresh.
    """

    code = "rejected"
    retryable = False

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


class BrokenRule(Rejected):
    """Base of a domain's named errors: subclasses set ``code`` (and ``retryable``)
    and give a reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(type(self).code, reason)
