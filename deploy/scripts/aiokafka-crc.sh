#!/usr/bin/env bash
# Rebuilds the installed aiokafka from its source release with CRC-32C in hardware.
# make venv runs it once, after pip has installed the project's dependencies.
#
# Every Kafka record batch carries a CRC-32C: aiokafka computes it for each batch
# it writes and checks it for each batch it reads. Its C record code has two
# ways to compute it, a table walk and the SSE 4.2 crc32 instruction (chosen at
# run time, when the processor has it), but the second is compiled only with
# WITH_CRC32C_HW defined, and the wheels on PyPI are built without it: the table
# walk was 3.1 % of a draining hub worker's samples (docs/performance-history.md, 6 December 2026).
# Same version and source, one define (pip builds it with the Cython and
# setuptools of the day, as the release's pyproject asks; it links zlib, which
# system-deps.sh --build installs); on a processor that is not x86-64 the wheel
# stays as it is. tests/unit/test_aiokafka_crc.py checks the result against
# RFC 3720's vectors and whether the hardware path is built in. A pip run
# that puts the wheel back is undone by running this script again.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin="${BIN:-$root/.venv/bin}"

case "$(uname -m)" in
  x86_64 | amd64) ;;
  *)
    echo "aiokafka: $(uname -m) is not x86-64: the wheel's table-walk CRC-32C stays" >&2
    exit 0
    ;;
esac
version=$("$bin/python" -c 'import importlib.metadata as m; print(m.version("aiokafka"))')
echo "aiokafka: building $version from source with hardware CRC-32C" >&2
CFLAGS="${CFLAGS:-} -O2 -DWITH_CRC32C_HW=1" "$bin/pip" install -q --no-deps --force-reinstall \
  --no-binary aiokafka --no-cache-dir "aiokafka==$version"
