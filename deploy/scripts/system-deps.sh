#!/usr/bin/env bash
# Installs the system tools the tests use as real peers, only where missing:
#   java + mvn        the Kafka broker (fetched from Maven Central by hub/ops/data/pom.xml)
#   openssl           an independent Ed25519 verifier (wire interop)
#   go + x/mod        Go's sumdb/tlog and sumdb/note check the audit log (interop)
#   node + npm        the official AsyncAPI parser checks docs/asyncapi.yaml
#   libicu-dev, g++   PyICU is built against the system ICU (romanising names to match)
#   chromium, fonts   the desk page's browser tests (Noto for Khmer, Lao, Myanmar, Thai, CJK)
# Later parts of the project add their peers here.
# With --build, only what `pip install` needs to build the venv (make venv).
set -euo pipefail

need=()
# PyICU compiles against the system ICU with pkg-config and g++.
pkg-config --exists icu-uc icu-i18n 2>/dev/null || need+=(libicu-dev pkg-config)
command -v g++ >/dev/null 2>&1 || need+=(g++)
# mypyc compiles the hub's hot modules against the headers of the venv's Python
# (deploy/scripts/compile.py); pyenv's and python.org's builds carry them.
py_include=$("${PY:-python3}" -c 'import sysconfig; print(sysconfig.get_paths()["include"])' 2>/dev/null || true)
{ [ -n "$py_include" ] && [ -f "$py_include/Python.h" ]; } || need+=(python3-dev)
# aiokafka, rebuilt with the hardware CRC-32C (deploy/scripts/aiokafka-crc.sh), links zlib.
[ -f /usr/include/zlib.h ] || need+=(zlib1g-dev)
if [ "${1:-}" != "--build" ]; then
command -v java >/dev/null 2>&1 || need+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || need+=(maven)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
# The desk page's browser test: Debian's Chromium, and fonts for Khmer, Thai, Chinese and Myanmar names.
command -v chromium >/dev/null 2>&1 || need+=(chromium fonts-khmeros fonts-thai-tlwg fonts-wqy-microhei fonts-sil-padauk)
# The desk page in Khmer, Lao, Burmese, Thai and Chinese (its screenshots show real glyphs).
[ -f /usr/share/fonts/truetype/noto/NotoSansLao-Regular.ttf ] || need+=(fonts-noto-core)
[ -f /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ] || need+=(fonts-noto-cjk)
command -v go >/dev/null 2>&1 || [ -x /usr/local/go/bin/go ] || need+=(golang-go)
[ -f /usr/share/gocode/src/golang.org/x/mod/sumdb/tlog/tlog.go ] || need+=(golang-golang-x-mod-dev)
{ command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; } || need+=(nodejs npm)
fi

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
echo "system-deps: installing ${need[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "system-deps: need root to install: ${need[*]} (apt-get install ${need[*]})" >&2
    exit 1
  fi
fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
