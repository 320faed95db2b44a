#!/bin/sh
# Demo mTLS certificates for Temporal's frontend and its clients, with openssl.
#
#   deploy/tls/gen-certs.sh [DIR]        # default deploy/tls/certs (git-ignored)
#
# Makes, in DIR:
#   ca.pem, ca.key                       the demo certificate authority (10 years). ca.key signs
#                                        every certificate below: keep it off the servers.
#   frontend.pem, frontend.key           the Temporal server (frontend and internode). Names:
#                                        temporal, localhost, 127.0.0.1, and $TEMPORAL_TLS_HOSTNAMES
#                                        (comma-separated DNS names, e.g. temporal.tinh.gov.vn)
#   client-<name>.pem, client-<name>.key one client certificate per process that dials Temporal:
#                                        worker-<agency code> for every agency of
#                                        catalog/agencies.yaml, worker-orchestration, api, ui,
#                                        admin (the setup job and operators' CLI), keda
# Client certificates are valid $CLIENT_DAYS days (default 90): rotation (docs/operations.md) is
# re-running this script with the same DIR, which keeps the CA and re-issues the rest.
# Existing CA: kept. Production: use the province's own CA and issue per agency from it.
set -eu

ROOT=$(CDPATH='' cd -- "$(dirname -- "$0")/../.." && pwd)
DIR=${1:-$ROOT/deploy/tls/certs}
CLIENT_DAYS=${CLIENT_DAYS:-90}
SERVER_DAYS=${SERVER_DAYS:-365}
AGENCIES=${AGENCIES:-$(sed -n 's/^[[:space:]]*-[[:space:]]*code:[[:space:]]*\([a-z0-9-]*\).*/\1/p' \
    "$ROOT/catalog/agencies.yaml")}
[ -n "$AGENCIES" ] || { echo "gen-certs: no agency codes found" >&2; exit 1; }

mkdir -p "$DIR"
umask 077
cd "$DIR"

if [ ! -f ca.pem ] || [ ! -f ca.key ]; then
    openssl req -x509 -newkey rsa:4096 -sha256 -days 3650 -nodes -keyout ca.key -out ca.pem \
        -subj "/O=Lien thong demo/CN=Lien thong demo CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        2>/dev/null
fi

issue() {  # name, days, extendedKeyUsage, subjectAltName
    openssl req -newkey rsa:2048 -sha256 -nodes -keyout "$1.key" -out "$1.csr" \
        -subj "/O=Lien thong demo/CN=$1" 2>/dev/null
    printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n' > "$1.ext"
    printf 'extendedKeyUsage=%s\n' "$3" >> "$1.ext"
    [ -z "$4" ] || printf 'subjectAltName=%s\n' "$4" >> "$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days "$2" -sha256 \
        -extfile "$1.ext" -out "$1.pem" 2>/dev/null
    rm -f "$1.csr" "$1.ext"
}

names="DNS:temporal,DNS:localhost,IP:127.0.0.1"
for host in $(echo "${TEMPORAL_TLS_HOSTNAMES:-}" | tr ',' ' '); do
    names="$names,DNS:$host"
done
# The server also dials itself (internode, and its system worker to the frontend): both uses.
issue frontend "$SERVER_DAYS" "serverAuth,clientAuth" "$names"

for agency in $AGENCIES; do
    issue "client-worker-$agency" "$CLIENT_DAYS" clientAuth ""
done
for other in worker-orchestration worker-outside-portal worker-outside-sms worker-outside-einvoice api ui admin keda; do
    issue "client-$other" "$CLIENT_DAYS" clientAuth ""
done
rm -f ca.srl
# Readable by the containers' users (uid 1000 Temporal, 10001 the engine); the directory stays
# private to its owner on the host.
chmod 0644 ./*.pem ./*.key
chmod 0600 ca.key
chmod 0755 .
echo "gen-certs: CA and certificates in $DIR" >&2
