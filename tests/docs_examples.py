"""The shell examples of the docs, read from the Markdown and run as written.

A fenced ``sh`` block is an example to run (``shell`` blocks only show commands, such
as ``make`` or ``kubectl``, that are not run); a ``text`` block right after it is what
it prints: every line must match a line of its output, ``…`` standing for anything.
The docs' blocks run in order in one ``bash``, from the repository's root, so what one
defines (``$RUN``, ``$CODE``) the next has.

Only where the system is differs from ``make run``: the broker (``$B``, and ``-b`` of
kcat), the topic prefix of a test system (the registry's topic names after ``-t``, and
in ``reply_to`` headers, get it, as ``STORECREDIT_TOPIC_PREFIX`` does for the services
and the command line) and the services' HTTP ports.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from contracts.topics import ALL_TOPICS

ROOT = Path(__file__).resolve().parents[1]
DOCS = (
    "contracts/README.md",
    "services/ledger/README.md",
    "services/store_credit/README.md",
    "services/order/README.md",
    "services/fulfillment/README.md",
    "docs/operations.md",
    "services/gateway/README.md",
)
"""In the order they run: each goes on from what the ones before it made."""
MAKE_RUN_BROKER = "127.0.0.1:9092"
MAKE_RUN_PORTS = {
    "ledger": 9181,
    "store_credit": 9182,
    "order": 9183,
    "fulfillment": 9184,
    "gateway": 8080,
}

_FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.S | re.M)


@dataclass
class Example:
    doc: str
    code: str
    prints: list[str]


def examples(doc: str) -> list[Example]:
    """The doc's ``sh`` blocks, each with the ``text`` block that follows it, if any (no
    other block between them)."""
    found: list[Example] = []
    previous = ""
    for match in _FENCE.finditer((ROOT / doc).read_text()):
        language, body = match.group(1), match.group(2)
        if language == "sh":
            found.append(Example(doc, body, []))
        elif language == "text" and previous == "sh":
            found[-1].prints = [line for line in body.splitlines() if line.strip()]
        previous = language
    return found


def pattern(expected: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in expected.split("…")))


def adapted(code: str, broker: str, prefix: str, ports: dict[str, int]) -> str:
    """The example for a system elsewhere than ``make run``'s (see the module's doc)."""
    code = code.replace(MAKE_RUN_BROKER, broker)
    if prefix:
        names = sorted((t.name for t in ALL_TOPICS), key=len, reverse=True)
        alternatives = "|".join(re.escape(n) for n in names)
        code = re.sub(rf"(-t\s+)({alternatives})(?=[\s:]|$)", rf"\g<1>{prefix}\2", code)
        code = re.sub(rf"(reply_to=)({alternatives})\b", rf"\g<1>{prefix}\2", code)
    for service, port in MAKE_RUN_PORTS.items():
        code = re.sub(rf"(localhost|127\.0\.0\.1):{port}\b", f"127.0.0.1:{ports[service]}", code)
    return code


@dataclass
class Outcome:
    example: Example
    output: str
    missing: list[str]


def run(
    docs: tuple[str, ...], env: dict[str, str], broker: str, prefix: str, ports: dict[str, int]
) -> tuple[list[Outcome], str]:
    """Every example of ``docs`` in one bash; each one's output and what it lacks."""
    every = [e for doc in docs for e in examples(doc)]
    script = ["set -o pipefail", f"export B={broker}"]
    for index, example in enumerate(every):
        # set -e: the first command that fails stops the run, and its example says so
        script.append(f"echo '@@@ example {index} begins @@@'\nset -e")
        script.append(adapted(example.code, broker, prefix, ports))
        script.append(f"set +e\necho '@@@ example {index} ended with 0 @@@'")
    done = subprocess.run(
        ["bash", "-c", "\n".join(script)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    outcomes = []
    for index, example in enumerate(every):
        begins = done.stdout.find(f"@@@ example {index} begins @@@")
        section = done.stdout[begins:] if begins >= 0 else ""
        ended = re.search(rf"@@@ example {index} ended with (\d+) @@@", section)
        output = section[: ended.start()] if ended else section
        lines = output.splitlines()
        missing = [p for p in example.prints if not any(pattern(p).search(ln) for ln in lines)]
        if ended is None:
            missing.insert(0, "(it failed: a command of it exited with an error)")
        outcomes.append(Outcome(example, output, missing))
    return outcomes, done.stderr


def main() -> int:
    """Run the docs' examples against ``make run``, or the broker ``B`` names."""
    broker = os.environ.get("B", MAKE_RUN_BROKER)
    prefix = os.environ.get("STORECREDIT_TOPIC_PREFIX", "")
    outcomes, errors = run(DOCS, dict(os.environ), broker, prefix, MAKE_RUN_PORTS)
    failed = [o for o in outcomes if o.missing]
    for outcome in failed:
        print(f"--- {outcome.example.doc}\n{outcome.example.code}\nmissing: {outcome.missing}")
        print(f"output:\n{outcome.output[-3000:]}")
    if failed:
        print(errors[-3000:], file=sys.stderr)
    print(f"{len(outcomes) - len(failed)} of {len(outcomes)} examples as the docs say")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
