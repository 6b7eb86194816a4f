"""drivers.dahdi_abi against the real include/dahdi/user.h, compiled with gcc.

user.h comes from the tarball inside Debian's dahdi-source package
(/usr/src/dahdi.tar.bz2), extracted into a temporary directory, so the check
does not depend on /usr/include/dahdi being present or current.  The C
program prints every ioctl number, struct size and field offset the driver
uses; the test compares each one with what Python computed.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from drivers import dahdi_abi as abi

CONSTANTS = [
    "ELAST", "DAHDI_CODE", "DAHDI_MAX_BLOCKSIZE", "DAHDI_MAX_NUM_BUFS", "DAHDI_MAX_BUF_SPACE",
    "DAHDI_DEFAULT_MTU_MRU",
    "DAHDI_POLICY_IMMEDIATE", "DAHDI_POLICY_WHEN_FULL", "DAHDI_POLICY_HALF_FULL",
    "DAHDI_LAW_DEFAULT", "DAHDI_LAW_MULAW", "DAHDI_LAW_ALAW",
    "DAHDI_FLUSH_READ", "DAHDI_FLUSH_WRITE", "DAHDI_FLUSH_EVENT", "DAHDI_FLUSH_BOTH", "DAHDI_FLUSH_ALL",
    "DAHDI_SIG_CLEAR", "DAHDI_SIG_HDLCRAW", "DAHDI_SIG_HDLCFCS", "DAHDI_SIG_HDLCNET",
    "DAHDI_SIG_HARDHDLC",
]


def _python_constants() -> dict[str, int]:
    out = {"ELAST": abi.ELAST, "DAHDI_CODE": abi.DAHDI_CODE,
           "DAHDI_MAX_BLOCKSIZE": abi.DAHDI_MAX_BLOCKSIZE, "DAHDI_MAX_NUM_BUFS": abi.DAHDI_MAX_NUM_BUFS,
           "DAHDI_MAX_BUF_SPACE": abi.DAHDI_MAX_BUF_SPACE,
           "DAHDI_DEFAULT_MTU_MRU": abi.DAHDI_DEFAULT_MTU_MRU}
    out.update({f"DAHDI_POLICY_{p.name}": int(p) for p in abi.Policy})
    out.update({f"DAHDI_LAW_{law.name}": int(law) for law in abi.DahdiLaw})
    out.update({f"DAHDI_FLUSH_{f.name}": int(f) for f in (abi.Flush.READ, abi.Flush.WRITE,
                                                          abi.Flush.EVENT, abi.Flush.BOTH, abi.Flush.ALL)})
    out.update({f"DAHDI_SIG_{s.name}": int(s) for s in (abi.Sig.CLEAR, abi.Sig.HDLCRAW, abi.Sig.HDLCFCS,
                                                         abi.Sig.HDLCNET, abi.Sig.HARDHDLC)})
    out.update({f"DAHDI_ALARM_{a.name}": int(a) for a in abi.SpanAlarm if a.name})
    out.update({f"DAHDI_EVENT_{e.name}": int(e) for e in abi.Event})
    out.update(abi.IOCTLS)
    return out


@pytest.fixture(scope="module")
def user_h_values(dahdi_source: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, int]:
    gcc = shutil.which("gcc")
    assert gcc, "gcc is needed for the user.h check"
    tmp = tmp_path_factory.mktemp("userh")
    inc = dahdi_source / "include"
    assert (inc / "dahdi" / "user.h").is_file()
    names = _python_constants()
    lines = ['#include <stdio.h>', '#include <stddef.h>', '#include <sys/ioctl.h>',
             '#include <linux/types.h>', '#include <dahdi/user.h>', 'int main(void) {']
    for name in names:
        lines.append(f'  printf("{name} %lu\\n", (unsigned long)({name}));')
    for st, offs in (("dahdi_params", abi.PARAMS_OFFSETS), ("dahdi_spaninfo", abi.SPANINFO_OFFSETS),
                     ("dahdi_bufferinfo", abi.BUFINFO_OFFSETS)):
        lines.append(f'  printf("sizeof.{st} %lu\\n", (unsigned long)sizeof(struct {st}));')
        for f in offs:
            lines.append(f'  printf("offsetof.{st}.{f} %lu\\n", (unsigned long)offsetof(struct {st}, {f}));')
            lines.append(f'  printf("sizeof.{st}.{f} %lu\\n", (unsigned long)sizeof(((struct {st} *)0)->{f}));')
    lines += ['  return 0;', '}']
    src = tmp / "abi.c"
    src.write_text("\n".join(lines) + "\n")
    exe = tmp / "abi"
    subprocess.run([gcc, "-Wall", "-Werror", "-I", str(inc), "-o", str(exe), str(src)], check=True,
                   capture_output=True, text=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    return {k: int(v) for k, v in (line.split() for line in out.splitlines())}


def test_every_constant_and_ioctl_number(user_h_values: dict[str, int]) -> None:
    mine = _python_constants()
    assert set(CONSTANTS) <= set(mine)
    wrong = {k: (hex(v), hex(user_h_values[k])) for k, v in mine.items() if user_h_values[k] != v}
    assert wrong == {}


@pytest.mark.parametrize(("struct_name", "size", "offsets"), [
    ("dahdi_params", abi.SIZEOF_PARAMS, abi.PARAMS_OFFSETS),
    ("dahdi_spaninfo", abi.SIZEOF_SPANINFO, abi.SPANINFO_OFFSETS),
    ("dahdi_bufferinfo", abi.SIZEOF_BUFINFO, abi.BUFINFO_OFFSETS),
])
def test_struct_sizes_and_offsets(user_h_values: dict[str, int], struct_name: str, size: int,
                                  offsets: dict[str, int]) -> None:
    assert user_h_values[f"sizeof.{struct_name}"] == size
    names = list(offsets)
    for i, f in enumerate(names):
        assert user_h_values[f"offsetof.{struct_name}.{f}"] == offsets[f], f
        end = offsets[names[i + 1]] if i + 1 < len(names) else size
        assert user_h_values[f"sizeof.{struct_name}.{f}"] == end - offsets[f], f


def test_spaninfo_round_trip() -> None:
    info = abi.SpanInfo.unpack(abi.SpanInfo.request(3))
    assert info.spanno == 3 and info.name == "" and len(info.pack()) == abi.SIZEOF_SPANINFO
    again = abi.SpanInfo.unpack(info.pack())
    assert again == info


def test_params_and_bufinfo_codecs() -> None:
    p = abi.ChanParams.unpack(abi.ChanParams.request(42))
    assert p.channo == 42 and p.sigtype == 0
    bi = abi.BufferInfo(0, 0, 4, 160)
    assert abi.BufferInfo.unpack(bi.pack()) == bi
