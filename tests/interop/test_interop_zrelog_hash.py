"""ZRE/LOG endpoint hash vectors against C itself (spec/zrelog.md#endpoint-hash).

zyre computed the 16-bit hash in C over a plain ``char *``, so bytes >= 0x80 depend on the
compiler's char signedness. This compiles the one-line loop with the system C compiler twice
(``-fsigned-char`` / ``-funsigned-char``) and checks both columns of every hash vector: the
vectors are confirmed by C semantics, not only by our Python reading of them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.interop

ROOT = Path(__file__).resolve().parents[2]
CASES = json.loads((ROOT / "vectors" / "zrelog" / "hash.json").read_text(encoding="utf-8"))["cases"]

# Our own transcription of the algorithm: h = 33*h ^ c over a NUL-terminated char string, in u16.
PROGRAM = r"""
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
static uint16_t endpoint_hash(const char *s) {
    uint16_t h = 0;
    while (*s)
        h = 33 * h ^ *s++;
    return h;
}
int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {            /* each argument: the string in hex */
        size_t n = strlen(argv[i]) / 2;
        char *buf = calloc(n + 1, 1);
        for (size_t k = 0; k < n; k++) {
            unsigned v; sscanf(argv[i] + 2 * k, "%2x", &v); buf[k] = (char) v;
        }
        printf("%u\n", (unsigned) endpoint_hash(buf));
        free(buf);
    }
    return 0;
}
"""


def _compile(tmp_path: Path, flag: str) -> Path:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        assert not os.environ.get("CI"), "CI=true but no C compiler"
        pytest.skip("no C compiler")
    src = tmp_path / "hash.c"
    src.write_text(PROGRAM)
    exe = tmp_path / f"hash{flag}"
    subprocess.run([cc, flag, "-O1", "-o", str(exe), str(src)], check=True, timeout=60)
    return exe


@pytest.mark.parametrize(("flag", "column"), [("-fsigned-char", "signed_char"),
                                              ("-funsigned-char", "unsigned_char")])
def test_hash_vectors_match_c(tmp_path: Path, flag: str, column: str) -> None:
    exe = _compile(tmp_path, flag)
    args = [c["input"]["utf8_hex"] or "" for c in CASES]
    out = subprocess.run([str(exe), *args], capture_output=True, text=True, check=True, timeout=30)
    got = [int(line) for line in out.stdout.split()]
    assert got == [c["output"][column] for c in CASES]
    assert any(c["output"]["signed_char"] != c["output"]["unsigned_char"] for c in CASES)
