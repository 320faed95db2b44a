#!/bin/sh
# One-shot setup of the engine's Temporal namespace, run by the `temporal-setup` job of
# docker-compose.yml (temporalio/admin-tools image) and by tests/deploy/test_deploy.py against the dev
# server: waits for the frontend, creates the namespace or updates its retention, registers the
# search attributes of engine/names.py, then checks all of them are there. Safe to re-run.
#
# Reads (the `temporal` CLI's own environment configuration, same names as the SDK's):
#   TEMPORAL_ADDRESS     required, e.g. temporal:7233
#   TEMPORAL_NAMESPACE   default "default"
#   TEMPORAL_RETENTION   default 720h; how long closed dossiers' histories are kept
#   TEMPORAL_TLS_CLIENT_CERT_PATH, TEMPORAL_TLS_CLIENT_KEY_PATH, TEMPORAL_TLS_SERVER_CA_CERT_PATH,
#   TEMPORAL_TLS_SERVER_NAME   mTLS, when the frontend requires it (deploy/tls/gen-certs.sh)
#   TEMPORAL_CLI         default "temporal"; the CLI binary
#   SETUP_ATTEMPTS / SETUP_PAUSE_SECONDS  default 60 / 2; how long to wait for the frontend
set -eu

: "${TEMPORAL_ADDRESS:?set TEMPORAL_ADDRESS, e.g. temporal:7233}"
NAMESPACE=${TEMPORAL_NAMESPACE:-default}
RETENTION=${TEMPORAL_RETENTION:-720h}
CLI=${TEMPORAL_CLI:-temporal}
ATTEMPTS=${SETUP_ATTEMPTS:-60}
PAUSE=${SETUP_PAUSE_SECONDS:-2}
export TEMPORAL_ADDRESS

# Keep in step with engine/names.py SEARCH_ATTRIBUTES (tests/deploy/test_deploy.py compares them).
# Codes, statuses and dates only: search attributes are stored unencrypted.
SEARCH_ATTRIBUTES="
DossierCode Keyword
ProcedureCodes KeywordList
DossierStatus Keyword
CurrentAgencies KeywordList
AppointmentAt Datetime
Overdue Bool
Desk Keyword
OverdueAgencies KeywordList
DueSoon Bool
Apologies Int
"

log() { echo "temporal-setup: $*" >&2; }

attempt=1
until "$CLI" operator cluster health 2>/dev/null | grep -q SERVING; do
    if [ "$attempt" -ge "$ATTEMPTS" ]; then
        log "the frontend at $TEMPORAL_ADDRESS is not serving after $ATTEMPTS attempts"
        exit 1
    fi
    attempt=$((attempt + 1))
    sleep "$PAUSE"
done
log "frontend $TEMPORAL_ADDRESS is serving"

if "$CLI" operator namespace describe --namespace "$NAMESPACE" >/dev/null 2>&1; then
    "$CLI" operator namespace update --namespace "$NAMESPACE" --retention "$RETENTION"
    log "namespace $NAMESPACE exists; retention set to $RETENTION"
else
    "$CLI" operator namespace create --namespace "$NAMESPACE" --retention "$RETENTION" \
        --description "Liên thông: hồ sơ thủ tục hành chính (dossiers)"
    log "namespace $NAMESPACE created with retention $RETENTION"
fi

# One call per attribute, so a failure names it. Re-creating an attribute of the same type is
# accepted; another type fails loudly. A new namespace takes a moment to reach every frontend's
# cache, hence the retries.
register() {
    attempt=1
    until "$CLI" operator search-attribute create --namespace "$NAMESPACE" --name "$1" --type "$2"; do
        if [ "$attempt" -ge "$ATTEMPTS" ]; then
            log "registering search attribute $1 ($2) failed $ATTEMPTS times"
            exit 1
        fi
        attempt=$((attempt + 1))
        sleep "$PAUSE"
    done
}
name=""
for word in $SEARCH_ATTRIBUTES; do
    if [ -z "$name" ]; then name=$word; continue; fi
    register "$name" "$word"
    name=""
done

# Check, rather than trust: every attribute exists with its type.
listed=$("$CLI" operator search-attribute list --namespace "$NAMESPACE")
missing=""
name=""
for word in $SEARCH_ATTRIBUTES; do
    if [ -z "$name" ]; then name=$word; continue; fi
    if ! printf '%s\n' "$listed" | grep -Eq "^[[:space:]]*$name[[:space:]]+$word[[:space:]]*$"; then
        missing="$missing $name($word)"
    fi
    name=""
done
if [ -n "$missing" ]; then
    log "search attributes missing or of another type in $NAMESPACE:$missing"
    exit 1
fi
"$CLI" operator namespace describe --namespace "$NAMESPACE" >/dev/null
log "namespace $NAMESPACE ready: retention $RETENTION, search attributes registered"
