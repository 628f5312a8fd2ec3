# What the shell examples of the docs use; source it first: `. docs/examples.sh`
#
# Against `make run` (Kafka on 127.0.0.1:9092). Every example names its ids with @RUN@,
# which `send` and `ask` replace by this shell's run suffix ($RUN, the time the file was
# first sourced), so the examples can be run again and again: each run makes its own
# accounts, credits and orders. `tests/e2e/test_docs_examples.py` runs every `sh`
# example of the docs in order, as written, against a running system.
#
# Topic names are the registry's; STORECREDIT_TOPIC_PREFIX, if set, goes before them,
# as the services do.

B=${B:-127.0.0.1:9092}
RUN=${RUN:-$(date +%s)}
# kcat logs in as the local stack's admin (SASL; `make run` writes this file).
export KCAT_CONFIG="${KCAT_CONFIG:-$PWD/.local/kafka/dev/kcat.conf}"

topic() {  # the topic's name as the services see it
  printf '%s%s' "${STORECREDIT_TOPIC_PREFIX:-}" "$1"
}

envelope() {  # envelope TYPE IDEMPOTENCY-KEY ACTOR PAYLOAD (ACTOR as kind:id): one JSON line,
  # its correlation id $CORRELATION if set, else docs-$RUN
  local actor=${3//@RUN@/$RUN}
  printf '{"message_id":"%s","idempotency_key":"%s","type":"%s","schema_version":1,"correlation_id":"%s","occurred_at":"%s","actor":{"kind":"%s","id":"%s"},"payload":%s}\n' \
    "$(python3 -c 'import uuid; print(uuid.uuid4())')" "${2//@RUN@/$RUN}" "$1" "${CORRELATION:-docs-$RUN}" \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "${actor%%:*}" "${actor#*:}" "${4//@RUN@/$RUN}"
}

claim() {  # claim ACTOR VALUE: the actor-claim header of a record VALUE by ACTOR (kind:id),
  # signed with the local system's keys (storecredit claim; shared/runtime/claims.py)
  printf '%s' "$2" | .venv/bin/storecredit claim "${1//@RUN@/$RUN}"
}

sealed() {  # sealed ACTOR CODE: CODE sealed for the store-credit service, sent by ACTOR
  # (storecredit seal; libsodium's crypto_box_seal, shared/runtime/sealing.py)
  printf '%s' "$2" | .venv/bin/storecredit seal "${1//@RUN@/$RUN}"
}

reply_key() {  # the public key to name as reply_public_key: new codes come back sealed to it
  .venv/bin/storecredit reply-key
}

unsealed() {  # unsealed SEALED: what was sealed to reply_key (a new code or token)
  printf '%s' "$1" | .venv/bin/storecredit unseal
}

send() {  # send TOPIC KEY TYPE IDEMPOTENCY-KEY ACTOR PAYLOAD: publish one command (a fresh message id)
  local value
  value=$(envelope "$3" "$4" "$5" "$6")
  printf '%s\n' "$value" | kcat -P -b "$B" -t "$(topic "$1")" -k "${2//@RUN@/$RUN}" \
    -H type="$3" -H actor-claim="$(claim "$5" "$value")"
}

result() {  # result RESULTS-TOPIC IDEMPOTENCY-KEY: the command's result (waits up to 30 s)
  local key=${2//@RUN@/$RUN} found
  for _ in $(seq 150); do
    found=$(kcat -C -b "$B" -t "$(topic "$1")" -o beginning -e -q -f '%s\n' \
      | grep -F "\"idempotency_key\":\"$key\"" | tail -n 1 || true)
    if [ -n "$found" ]; then printf '%s\n' "$found"; return 0; fi
    sleep 0.2
  done
  echo "no result for $key on $1" >&2
  return 1
}

cmd() {  # cmd TOPIC KEY TYPE IDEMPOTENCY-KEY ACTOR PAYLOAD: send, then print its result
  send "$@" && result "${1%.commands}.command-results" "$4"
}

latest() {  # latest TOPIC KEY TEXT: the newest record of KEY that holds TEXT (waits up to 30 s)
  local key=${2//@RUN@/$RUN} text=${3//@RUN@/$RUN} found
  for _ in $(seq 150); do
    found=$(kcat -C -b "$B" -t "$(topic "$1")" -o beginning -e -q -f '%k %s\n' \
      | grep -F "$key " | grep -F -- "$text" | tail -n 1 || true)
    if [ -n "$found" ]; then printf '%s\n' "${found#* }"; return 0; fi
    sleep 0.2
  done
  echo "nothing on $1 for $key with $text" >&2
  return 1
}

ask() {  # ask TOPIC KEY TYPE ACTOR PAYLOAD: a query, and its reply on <service>.query-replies
  local id="docs-query-$RUN-$RANDOM" replies="${1%.queries}.query-replies" value
  value=$(CORRELATION=$id envelope "$3" "$id" "$4" "$5")
  printf '%s\n' "$value" | kcat -P -b "$B" -t "$(topic "$1")" -k "${2//@RUN@/$RUN}" \
    -H type="$3" -H reply_to="$(topic "$replies")" -H correlation-id="$id" \
    -H actor-claim="$(claim "$4" "$value")"
  latest "$replies" "$id" "$id"
}
