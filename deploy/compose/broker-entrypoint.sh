#!/bin/bash
# Starts one KRaft broker+controller of compose.yaml with TLS and SCRAM.
# Formats storage once, putting every SCRAM user into the metadata log
# (kafka-storage format --add-scram), then runs the broker.
set -euo pipefail
conf=/tmp/server.properties
cat > "$conf" <<PROPS
process.roles=broker,controller
node.id=${TRM_NODE_ID}
controller.quorum.voters=1@kafka-1:9094,2@kafka-2:9094,3@kafka-3:9094
listeners=SECURE://:9093,CONTROLLER://:9094
advertised.listeners=SECURE://kafka-${TRM_NODE_ID}:9093
log.dirs=/var/lib/kafka/data
num.partitions=6
default.replication.factor=3
min.insync.replicas=2
offsets.topic.replication.factor=3
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
auto.create.topics.enable=false
unclean.leader.election.enable=false
group.initial.rebalance.delay.ms=3000
PROPS
cat /run/secrets/trm/broker-security.properties >> "$conf"
if [ ! -f /var/lib/kafka/data/meta.properties ]; then
  # One argument per line: --add-scram, SCRAM-SHA-512=[name=...,password=...], ...
  mapfile -t scram < /run/secrets/trm/scram-format-args
  /opt/kafka/bin/kafka-storage.sh format -t "${TRM_CLUSTER_ID}" -c "$conf" "${scram[@]}"
fi
exec /opt/kafka/bin/kafka-server-start.sh "$conf"
