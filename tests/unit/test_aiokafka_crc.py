"""aiokafka's CRC-32C, rebuilt with the hardware path (deploy/scripts/aiokafka-crc.sh).

Every Kafka record batch carries a CRC-32C of its bytes from the attributes on;
aiokafka's C record code computes it for each batch the hub writes and checks it
for each batch the hub reads. ``make venv`` rebuilds aiokafka from its source
release with the SSE 4.2 path compiled in. These tests hold that build to the
standard's vectors and to aiokafka's own pure-Python CRC, across the lengths
where the hardware path changes its stride, and check that the build the tests
run on has the hardware path on an x86-64 machine.
"""

from __future__ import annotations

import platform
import random
import struct
from pathlib import Path

import pytest
from aiokafka.record import _crc32c
from aiokafka.record._crecords import cutil, default_records
from aiokafka.record._crecords.default_records import (
    DefaultRecordBatch,
    DefaultRecordBatchBuilder,
)

# RFC 3720 (iSCSI), appendix B.4, "CRC Examples": the CRC-32C of each, as the
# 32-bit value (the RFC lists its bytes little-endian).
RFC_3720 = [
    (bytes(32), 0x8A9136AA),
    (b"\xff" * 32, 0x62A8AB43),
    (bytes(range(32)), 0x46DD794E),
    (bytes(range(31, -1, -1)), 0x113FDB5C),
    (
        bytes.fromhex(
            "01c00000000000000000000000000000"
            "14000000000004000000001400000018"
            "28000000000000000200000000000000"
        ),
        0xD9963A56,
    ),
]
CHECK = (b"123456789", 0xE3069283)  # the CRC catalogue's check value for CRC-32C

# The hardware path walks 3 x 8,192-byte blocks, then 3 x 256-byte blocks, then
# 8-byte words, then bytes: lengths on each side of each stride, and odd starts.
LENGTHS = [0, 1, 7, 8, 9, 63, 255, 256, 257, 767, 768, 769, 8191, 8192, 24575, 24576, 24577]
LENGTHS += [24576 * 3 + 771, 100_003]


@pytest.mark.parametrize(("data", "crc"), [*RFC_3720, CHECK])
def test_the_crc_is_the_standards(data: bytes, crc: int) -> None:
    assert cutil.crc32c_cython(data) == crc
    assert _crc32c.crc(data) == crc  # aiokafka's pure-Python CRC, the reference here


@pytest.mark.parametrize("length", LENGTHS)
def test_the_crc_agrees_with_the_table_walk_at_every_stride(length: int) -> None:
    rng = random.Random(length)
    data = rng.randbytes(length + 7)
    for start in (0, 1, 3, 7):  # a view, not a copy: starts off an 8-byte boundary too
        piece = memoryview(data)[start : start + length]
        assert cutil.crc32c_cython(piece) == _crc32c.crc(bytes(piece)), (length, start)


def test_a_written_batch_carries_the_crc_of_its_bytes_and_a_changed_byte_fails_it() -> None:
    builder = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=0,
        is_transactional=0,
        producer_id=7,
        producer_epoch=0,
        base_sequence=0,
        batch_size=1 << 20,
    )
    rng = random.Random(3720)
    for i in range(50):
        size = rng.choice((100, 700, 3000))
        assert builder.append(i, None, b"k", rng.randbytes(size), [("h", b"v")]) is not None
    batch = bytes(builder.build())
    # The batch header: base offset (8), length (4), leader epoch (4), magic (1), CRC (4).
    (stored,) = struct.unpack(">I", batch[17:21])
    assert stored == _crc32c.crc(batch[21:])
    assert DefaultRecordBatch(batch).validate_crc()
    changed = bytearray(batch)
    changed[-10] ^= 0x01
    assert not DefaultRecordBatch(bytes(changed)).validate_crc()


def test_the_installed_aiokafka_has_the_hardware_crc_built_in_on_x86_64() -> None:
    """The hardware path's tables (``crc32c_long``, in the libraries' symbol tables)
    exist only when it is compiled in; which path runs is chosen at run time (SSE
    4.2, on every x86-64 processor of the last decade). On another processor the
    script keeps the wheel, which has no such path."""
    x86_64 = platform.machine().lower() in {"x86_64", "amd64"}
    for module in (cutil, default_records):
        library = Path(str(module.__file__)).read_bytes()
        assert (b"crc32c_long" in library) == x86_64, (
            f"expected aiokafka {'with' if x86_64 else 'without'} WITH_CRC32C_HW "
            f"({module.__name__}) on {platform.machine()}: run "
            "deploy/scripts/aiokafka-crc.sh (make venv runs it when the venv is built)"
        )
