#!/bin/sh
# Creates the TLS and SCRAM material for compose.yaml in ./secrets (run once,
# from the repository root, with the project installed: pip install .).
# Brokers read it as /run/secrets/trm; each client container gets only its own
# credentials file. Files are 0600: see docs/operations.md for ownership.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out="$here/secrets"
trm kafka secure material "$out" \
  --host kafka-1 --host kafka-2 --host kafka-3 --host localhost --host 127.0.0.1
trm kafka secure broker-properties "$out" --mount /run/secrets/trm \
  > "$out/broker-security.properties"
trm kafka secure format-args "$out" > "$out/scram-format-args"
chmod 600 "$out/broker-security.properties" "$out/scram-format-args"
# The apache/kafka image runs as uid 1000; our image as uid 10001.
if [ "$(id -u)" = 0 ]; then
  chown 1000 "$out" "$out"/broker.p12 "$out"/ca.pem "$out"/broker-security.properties "$out"/scram-format-args
  chown -R 10001 "$out"/credentials
fi
echo "secrets in $out; now: docker compose -f $here/compose.yaml up -d"
