#!/usr/bin/env bash
# Makes a TEST certificate authority and the certificates keyrouter's
# examples use, with openssl:
#
#   ca.pem, ca-key.pem           the CA (keep ca-key.pem off the servers)
#   server.pem, server-key.pem   NATS servers: clients and cluster routes
#                                (serverAuth and clientAuth; SANs below)
#   client.pem, client-key.pem   keyrouter processes and clients (clientAuth)
#
# Usage: deploy/tls/make-test-ca.sh [OUT_DIR]   (default deploy/tls/out)
# Extra server names: SANS="DNS:nats.example.com,IP:10.0.0.5" make-test-ca.sh
#
# For tests and trials only: a production CA lives in your PKI, with
# certificates that expire and are rotated (see deploy/README.md).
set -euo pipefail
out="${1:-$(dirname "${BASH_SOURCE[0]}")/out}"
days="${DAYS:-365}"
mkdir -p "$out"
cd "$out"
umask 077

# The names servers are reached by: compose service names, the NATS Helm
# chart's services in namespace keyrouter, and loopback.
sans="DNS:localhost,IP:127.0.0.1,DNS:nats,DNS:nats-1,DNS:nats-2,DNS:nats-3"
sans="$sans,DNS:nats.keyrouter,DNS:nats.keyrouter.svc,DNS:nats.keyrouter.svc.cluster.local"
sans="$sans,DNS:*.nats-headless,DNS:*.nats-headless.keyrouter,DNS:*.nats-headless.keyrouter.svc,DNS:*.nats-headless.keyrouter.svc.cluster.local"
if [[ -n "${SANS:-}" ]]; then sans="$sans,$SANS"; fi

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days "$days" \
  -keyout ca-key.pem -out ca.pem -subj "/CN=keyrouter test CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

issue() { # name subject extensions
  local name="$1" subj="$2" ext="$3"
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$name-key.pem" -out "$name.csr" -subj "$subj" 2>/dev/null
  printf '%s\n' "$ext" >"$name.ext"
  openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial \
    -days "$days" -out "$name.pem" -extfile "$name.ext" 2>/dev/null
  rm -f "$name.csr" "$name.ext"
}

issue server "/CN=nats" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=$sans"
issue client "/CN=keyrouter" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"
rm -f ca.srl

# Readable by the containers' users (compose runs them as you); the keys
# stay private to you.
chmod 644 ca.pem server.pem client.pem
chmod 600 ca-key.pem server-key.pem client-key.pem
openssl verify -CAfile ca.pem server.pem client.pem >/dev/null
echo "wrote $(pwd): ca.pem server.pem server-key.pem client.pem client-key.pem (and ca-key.pem)"
