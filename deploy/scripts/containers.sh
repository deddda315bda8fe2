#!/usr/bin/env bash
# The container engine and the local images the Compose stack (deploy/compose)
# runs on, for a bare Debian 12 machine. Idempotent: installs only what is
# missing, and a second run with every image in place takes seconds.
#
#   1. Debian packages: podman buildah debootstrap runc uidmap slirp4netns fuse-overlayfs
#   2. /etc/containers/containers.conf: runc as the runtime and ulimits root may
#      set (other settings are left as they are)
#   3. podman-compose in the project venv (pinned in pyproject.toml's test extras)
#   4. localhost/trm-debian:bookworm, a base image made by debootstrap from the
#      Debian mirror apt already uses, with this machine's local CA certificates
#      (HTTPS from builds and containers may go through a proxy with its own CA)
#   5. localhost/trm-python:3.11 and localhost/trm-java:17 on that base
#   6. localhost/trm-kafka:3.9.2 from the Kafka jars the project fetches from Maven
#      (~/.cache/trm, hub.ops.broker.ensure_jars), laid out like apache/kafka
#   7. localhost/trm-hub:latest from deploy/compose/Dockerfile, rebuilt when the
#      sources change (its pip dependencies sit in their own cached layer)
#
# Container registries need not be reachable: nothing is pulled.
# Environment: TRM_VENV (default ./.venv), TRM_CONTAINERS_FORCE=1 rebuilds every image.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
venv=${TRM_VENV:-$root/.venv}
force=${TRM_CONTAINERS_FORCE:-0}
base=localhost/trm-debian:bookworm
python_img=localhost/trm-python:3.11
java_img=localhost/trm-java:17
kafka_img=localhost/trm-kafka:3.9.2
app_img=localhost/trm-hub:latest
suite=bookworm

log() { echo "containers: $*" >&2; }
die() { echo "containers: $*" >&2; exit 1; }

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || die "need root (rootful Podman) or sudo"
  sudo="sudo"
fi

# --- 1. packages -----------------------------------------------------------------
need=()
for pkg in podman buildah debootstrap runc uidmap slirp4netns fuse-overlayfs; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  # Another apt may hold the lock for a while at boot: wait for it.
  $sudo apt-get -o DPkg::Lock::Timeout=300 update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=300 \
    install -y -qq "${need[@]}" >/dev/null
fi

# --- 2. containers.conf ------------------------------------------------------------
# crun here fails with "setrlimit RLIMIT_NOFILE: Operation not permitted" (root
# cannot raise the hard limit Podman asks for) and "cgroups in hybrid mode not
# supported"; runc with these limits works. Only keys that are absent are added.
$sudo python3 - /etc/containers/containers.conf <<'PY'
import sys, tomllib
from pathlib import Path

path = Path(sys.argv[1])
text = path.read_text(encoding="utf-8") if path.exists() else ""
doc = tomllib.loads(text)
wanted = {
    "containers": ("default_ulimits", '["nofile=20000:20000", "nproc=32768:32768"]'),
    "engine": ("runtime", '"runc"'),
}
lines = text.splitlines()
changed = False
for section, (key, value) in wanted.items():
    if key in doc.get(section, {}):
        continue
    header = f"[{section}]"
    entry = f"{key} = {value}"
    idx = next((i for i, l in enumerate(lines) if l.strip() == header), None)
    if idx is None:
        lines += ["", header, entry]
    else:
        lines.insert(idx + 1, entry)
    changed = True
if changed:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines).lstrip("\n") + "\n", encoding="utf-8")
    print(f"containers: set runc and ulimits in {path}", file=sys.stderr)
PY

# --- 3. podman-compose ---------------------------------------------------------------
if [ ! -x "$venv/bin/podman-compose" ]; then
  [ -x "$venv/bin/pip" ] || die "expected the project venv at $venv (run: make venv)"
  pin=$("$venv/bin/python" - "$root/pyproject.toml" <<'PY'
import sys, tomllib
deps = tomllib.load(open(sys.argv[1], "rb"))["project"]["optional-dependencies"]["test"]
print(next(d for d in deps if d.startswith("podman-compose")))
PY
)
  log "installing $pin into $venv"
  "$venv/bin/pip" install -q "$pin"
fi

exists() { [ "$force" != 1 ] && podman image exists "$1"; }
label() { podman image inspect --format "{{index .Labels \"$2\"}}" "$1" 2>/dev/null || true; }

# --- 4. base image ---------------------------------------------------------------------
# The machine's locally added CAs (what update-ca-certificates takes from /usr/local).
ca_dir=/usr/local/share/ca-certificates
ca_sum=$(cd "$ca_dir" 2>/dev/null && find . -type f -name '*.crt' | sort | xargs -r sha256sum | sha256sum | cut -c1-16)
if ! exists "$base" || [ "$(label "$base" trm.local-ca)" != "$ca_sum" ]; then
  mirror=$(python3 - <<'PY'
# The Debian archive apt uses: deb822 .sources files or one-line sources.list.
import glob, re, sys
found = []
for f in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
    for stanza in re.split(r"\n\s*\n", open(f, encoding="utf-8").read()):
        fields = dict(
            (m.group(1).lower(), m.group(2).strip())
            for m in re.finditer(r"^([A-Za-z-]+):\s*(.*)$", stanza, re.M)
        )
        if fields.get("enabled", "yes") == "no" or "deb" not in fields.get("types", "").split():
            continue
        if "bookworm" in fields.get("suites", "").split():
            found += fields.get("uris", "").split()
for f in ["/etc/apt/sources.list", *sorted(glob.glob("/etc/apt/sources.list.d/*.list"))]:
    try:
        text = open(f, encoding="utf-8").read()
    except OSError:
        continue
    for m in re.finditer(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm\s", text, re.M):
        found.append(m.group(1))
if not found:
    sys.exit("no Debian bookworm mirror in the apt sources")
print(found[0])
PY
) || die "cannot find the Debian mirror apt uses"
  log "building $base with debootstrap from $mirror (about a minute)"
  rootfs=$(mktemp -d /var/tmp/trm-rootfs.XXXXXX)
  trap '$sudo rm -rf "$rootfs"' EXIT
  $sudo debootstrap --variant=minbase --include=ca-certificates "$suite" "$rootfs" "$mirror" >/dev/null
  if [ -d "$ca_dir" ]; then
    $sudo cp -r "$ca_dir/." "$rootfs/usr/local/share/ca-certificates/"
  fi
  $sudo chroot "$rootfs" update-ca-certificates >/dev/null
  $sudo rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  $sudo tar -C "$rootfs" -c . | podman import -q \
    --change "LABEL trm.local-ca=$ca_sum" --change 'CMD ["/bin/bash"]' - "$base" >/dev/null
  $sudo rm -rf "$rootfs"
  trap - EXIT
  force=1  # everything above the base is stale now
fi

build_from_stdin() {  # IMAGE CONTEXT: a Containerfile on stdin
  podman build -q --layers -t "$1" -f - "$2" >/dev/null
}

# --- 5. runtimes -------------------------------------------------------------------------
if ! exists "$python_img"; then
  log "building $python_img"
  build_from_stdin "$python_img" "$root/deploy/scripts" <<EOF
FROM $base
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      python3 python3-venv >/dev/null && rm -rf /var/lib/apt/lists/*
EOF
fi
if ! exists "$java_img"; then
  log "building $java_img"
  build_from_stdin "$java_img" "$root/deploy/scripts" <<EOF
FROM $base
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      openjdk-17-jre-headless >/dev/null && rm -rf /var/lib/apt/lists/*
EOF
fi

# --- 6. Kafka ---------------------------------------------------------------------------
if ! exists "$kafka_img"; then
  lib=$(cd "$root" && "$venv/bin/python" -c \
    'from hub.ops.broker import ensure_jars; print(ensure_jars())')
  log "building $kafka_img from $lib"
  ctx=$(mktemp -d /var/tmp/trm-kafka-ctx.XXXXXX)
  cp -r "$lib" "$ctx/libs"
  cp "$root/hub/ops/data/log4j.properties" "$ctx/log4j.properties"  # the one the local broker uses
  build_from_stdin "$kafka_img" "$ctx" <<EOF
FROM $java_img
# The layout and scripts the apache/kafka image has, so deploy/compose runs on either.
COPY libs /opt/kafka/libs
COPY log4j.properties /opt/kafka/config/log4j.properties
RUN mkdir -p /opt/kafka/bin /var/lib/kafka/data \
 && for tool in storage:kafka.tools.StorageTool server-start:kafka.Kafka; do \
      printf '#!/bin/sh\nexec java \$KAFKA_HEAP_OPTS -Djava.awt.headless=true -Dlog4j.configuration=file:/opt/kafka/config/log4j.properties -cp "/opt/kafka/libs/*" %s "\$@"\n' \
        "\${tool#*:}" > "/opt/kafka/bin/kafka-\${tool%%:*}.sh"; \
    done \
 && chmod 755 /opt/kafka/bin/*.sh \
 && useradd --uid 1000 --no-create-home appuser && chown 1000 /var/lib/kafka/data
USER 1000
EOF
  rm -rf "$ctx"
fi

# --- 7. the trm-hub image --------------------------------------------------------------
# Its label holds a digest of what goes into it; only a change rebuilds it.
sources=(pyproject.toml README.md hub schemas connectors deploy/compose/Dockerfile
  deploy/scripts/aiokafka-crc.sh)
src_sum=$(cd "$root" && find "${sources[@]}" -type f ! -path '*/__pycache__/*' ! -name '*.pyc' \
  | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-16)
if ! exists "$app_img" || [ "$(label "$app_img" trm.source)" != "$src_sum" ]; then
  log "building $app_img (sources $src_sum)"
  ctx=$(mktemp -d /var/tmp/trm-app-ctx.XXXXXX)
  (cd "$root" && tar -c --exclude=__pycache__ --exclude='*.pyc' "${sources[@]}") | tar -C "$ctx" -x
  podman build -q --layers -t "$app_img" --label "trm.source=$src_sum" \
    --build-arg "BASE_IMAGE=$python_img" -f "$ctx/deploy/compose/Dockerfile" "$ctx" >/dev/null
  rm -rf "$ctx"
fi
log "ready: $kafka_img $app_img"
