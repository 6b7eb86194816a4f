"""DAHDI's user-space ABI: ioctl numbers, constants and struct layouts.

Computed here from the rules of ``include/dahdi/user.h`` (dahdi-linux 2.11.1, as Debian 12 ships it)
and Linux's ``asm-generic/ioctl.h``, so the driver needs no C extension.
``tests/drivers/test_dahdi_abi.py`` compiles a C program against the
real ``user.h`` from Debian's ``dahdi-source`` and checks every number, size
and offset below.

Struct layouts are ``struct`` formats with standard sizes and no implicit
padding (``=``): ``dahdi_spaninfo`` is ``__attribute__((packed))`` in
user.h, and the other structs have only ``int`` and ``char[4n]`` members, so
the C compiler adds no padding either.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

# ---------------------------------------------------------------- ioctl numbers
# asm-generic/ioctl.h: nr bits 0-7, type 8-15, size 16-29, direction 30-31.
_IOC_NRBITS, _IOC_TYPEBITS, _IOC_SIZEBITS = 8, 8, 14
_IOC_NRSHIFT = 0
_IOC_TYPESHIFT = _IOC_NRSHIFT + _IOC_NRBITS
_IOC_SIZESHIFT = _IOC_TYPESHIFT + _IOC_TYPEBITS
_IOC_DIRSHIFT = _IOC_SIZESHIFT + _IOC_SIZEBITS
_IOC_NONE, _IOC_WRITE, _IOC_READ = 0, 1, 2


def _ioc(direction: int, typ: int, nr: int, size: int) -> int:
    return (direction << _IOC_DIRSHIFT) | (typ << _IOC_TYPESHIFT) | (nr << _IOC_NRSHIFT) | (
        size << _IOC_SIZESHIFT)


def _io(typ: int, nr: int) -> int:
    return _ioc(_IOC_NONE, typ, nr, 0)


def _ior(typ: int, nr: int, size: int) -> int:
    return _ioc(_IOC_READ, typ, nr, size)


def _iow(typ: int, nr: int, size: int) -> int:
    return _ioc(_IOC_WRITE, typ, nr, size)


def _iowr(typ: int, nr: int, size: int) -> int:
    return _ioc(_IOC_READ | _IOC_WRITE, typ, nr, size)


#: errno of read()/write() while a channel event is pending (user.h: ELAST 500).
ELAST = 500
DAHDI_CODE = 0xDA
SIZEOF_INT = 4

# ---------------------------------------------------------------- structs

#: struct dahdi_params: 12 ints, char name[40], 11 ints, __u32 chan_alarms.
PARAMS_FORMAT = "=12i40s11iI"
#: struct dahdi_bufferinfo: txbufpolicy, rxbufpolicy, numbufs, bufsize, readbufs, writebufs.
BUFINFO_FORMAT = "=6i"
#: struct dahdi_spaninfo (packed): see SpanInfo for the field names.
SPANINFO_FORMAT = "=i20s40s7i5I7i40s40s40s40s2i6s"

SIZEOF_PARAMS = struct.calcsize(PARAMS_FORMAT)
SIZEOF_BUFINFO = struct.calcsize(BUFINFO_FORMAT)
SIZEOF_SPANINFO = struct.calcsize(SPANINFO_FORMAT)

DAHDI_GET_BLOCKSIZE = _ior(DAHDI_CODE, 1, SIZEOF_INT)
DAHDI_SET_BLOCKSIZE = _iow(DAHDI_CODE, 1, SIZEOF_INT)
DAHDI_FLUSH = _iow(DAHDI_CODE, 3, SIZEOF_INT)
DAHDI_GET_PARAMS = _iowr(DAHDI_CODE, 5, SIZEOF_PARAMS)
DAHDI_GETEVENT = _ior(DAHDI_CODE, 8, SIZEOF_INT)
DAHDI_SPANSTAT = _iowr(DAHDI_CODE, 10, SIZEOF_SPANINFO)
DAHDI_GET_BUFINFO = _ior(DAHDI_CODE, 27, SIZEOF_BUFINFO)
DAHDI_SET_BUFINFO = _iow(DAHDI_CODE, 27, SIZEOF_BUFINFO)
DAHDI_AUDIOMODE = _iow(DAHDI_CODE, 32, SIZEOF_INT)
DAHDI_ECHOCANCEL = _iow(DAHDI_CODE, 33, SIZEOF_INT)
DAHDI_CHANNO = _ior(DAHDI_CODE, 34, SIZEOF_INT)
DAHDI_SPECIFY = _iow(DAHDI_CODE, 38, SIZEOF_INT)
DAHDI_SETLAW = _iow(DAHDI_CODE, 39, SIZEOF_INT)
DAHDI_SETLINEAR = _iow(DAHDI_CODE, 40, SIZEOF_INT)
DAHDI_SYNC = _io(DAHDI_CODE, 4)

#: Every ioctl the driver uses, by its user.h name (checked by the gcc test).
IOCTLS: dict[str, int] = {
    "DAHDI_GET_BLOCKSIZE": DAHDI_GET_BLOCKSIZE, "DAHDI_SET_BLOCKSIZE": DAHDI_SET_BLOCKSIZE,
    "DAHDI_FLUSH": DAHDI_FLUSH, "DAHDI_GET_PARAMS": DAHDI_GET_PARAMS,
    "DAHDI_GETEVENT": DAHDI_GETEVENT, "DAHDI_SPANSTAT": DAHDI_SPANSTAT,
    "DAHDI_GET_BUFINFO": DAHDI_GET_BUFINFO, "DAHDI_SET_BUFINFO": DAHDI_SET_BUFINFO,
    "DAHDI_AUDIOMODE": DAHDI_AUDIOMODE, "DAHDI_ECHOCANCEL": DAHDI_ECHOCANCEL,
    "DAHDI_CHANNO": DAHDI_CHANNO, "DAHDI_SPECIFY": DAHDI_SPECIFY, "DAHDI_SETLAW": DAHDI_SETLAW,
    "DAHDI_SETLINEAR": DAHDI_SETLINEAR, "DAHDI_SYNC": DAHDI_SYNC,
}

# ---------------------------------------------------------------- constants

DAHDI_MAX_BLOCKSIZE = 8192
DAHDI_MIN_BLOCKSIZE = 16  # dahdi-base.c: DAHDI_SET_BLOCKSIZE refuses less
DAHDI_MAX_NUM_BUFS = 32
DAHDI_MAX_BUF_SPACE = 32768
DAHDI_DEFAULT_MTU_MRU = 2048


class Policy(enum.IntEnum):
    """Buffer policies (user.h DAHDI_POLICY_*)."""

    IMMEDIATE = 0
    WHEN_FULL = 1
    HALF_FULL = 2


class DahdiLaw(enum.IntEnum):
    """DAHDI_SETLAW arguments (user.h DAHDI_LAW_*)."""

    DEFAULT = 0
    MULAW = 1
    ALAW = 2


class Flush(enum.IntFlag):
    """DAHDI_FLUSH arguments."""

    READ = 1
    WRITE = 2
    EVENT = 4
    BOTH = 3
    ALL = 7


class Sig(enum.IntFlag):
    """Signalling types a channel's sigtype may hold (user.h DAHDI_SIG_*)."""

    NONE = 0
    CLEAR = 1 << 7
    HDLCRAW = (1 << 8) | CLEAR
    HDLCFCS = (1 << 9) | HDLCRAW
    HDLCNET = (1 << 10) | HDLCFCS
    HARDHDLC = (1 << 19) | CLEAR


class SpanAlarm(enum.IntFlag):
    """dahdi_spaninfo.alarms bits (user.h DAHDI_ALARM_*)."""

    NONE = 0
    RECOVER = 1 << 0
    LOOPBACK = 1 << 1
    YELLOW = 1 << 2
    RED = 1 << 3
    BLUE = 1 << 4
    NOTOPEN = 1 << 5
    LOS = 1 << 8
    LFA = 1 << 9
    LMFA = 1 << 10


class Event(enum.IntEnum):
    """DAHDI_GETEVENT results (user.h DAHDI_EVENT_*) that matter on a PRI span."""

    NONE = 0
    ONHOOK = 1
    RINGOFFHOOK = 2
    WINKFLASH = 3
    ALARM = 4
    NOALARM = 5
    ABORT = 6
    OVERRUN = 7
    BADFCS = 8
    DIALCOMPLETE = 9
    RINGERON = 10
    RINGEROFF = 11
    HOOKCOMPLETE = 12
    BITSCHANGED = 13
    PULSE_START = 14
    TIMER_EXPIRED = 15
    TIMER_PING = 16
    POLARITY = 17
    RINGBEGIN = 18
    EC_DISABLED = 19
    REMOVED = 20
    READ_OVERRUN = 29
    WRITE_UNDERRUN = 30


# ---------------------------------------------------------------- codecs


def pack_int(value: int) -> bytes:
    return struct.pack("=i", value)


def unpack_int(data: bytes) -> int:
    return int(struct.unpack("=i", data[:SIZEOF_INT])[0])


def _cstr(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("latin-1")


@dataclass(frozen=True)
class BufferInfo:
    """struct dahdi_bufferinfo."""

    txbufpolicy: int
    rxbufpolicy: int
    numbufs: int
    bufsize: int
    readbufs: int = 0
    writebufs: int = 0

    def pack(self) -> bytes:
        return struct.pack(BUFINFO_FORMAT, self.txbufpolicy, self.rxbufpolicy, self.numbufs,
                           self.bufsize, self.readbufs, self.writebufs)

    @classmethod
    def unpack(cls, data: bytes) -> BufferInfo:
        return cls(*struct.unpack(BUFINFO_FORMAT, data[:SIZEOF_BUFINFO]))


@dataclass(frozen=True)
class ChanParams:
    """The parts of struct dahdi_params the driver reads (DAHDI_GET_PARAMS)."""

    channo: int
    spanno: int
    chanpos: int
    sigtype: int
    sigcap: int
    curlaw: int
    name: str
    chan_alarms: int

    @staticmethod
    def request(channo: int = 0) -> bytes:
        """A dahdi_params buffer asking about ``channo`` (0: the channel the fd is on)."""
        return struct.pack(PARAMS_FORMAT, channo, *([0] * 11), b"", *([0] * 11), 0)

    @classmethod
    def unpack(cls, data: bytes) -> ChanParams:
        v = struct.unpack(PARAMS_FORMAT, data[:SIZEOF_PARAMS])
        return cls(channo=v[0], spanno=v[1], chanpos=v[2], sigtype=v[3], sigcap=v[4],
                   curlaw=v[10], name=_cstr(v[12]), chan_alarms=v[-1])


@dataclass(frozen=True)
class SpanInfo:
    """struct dahdi_spaninfo (DAHDI_SPANSTAT)."""

    spanno: int
    name: str
    desc: str
    alarms: int
    txlevel: int
    rxlevel: int
    bpvcount: int
    crc4count: int
    ebitcount: int
    fascount: int
    fecount: int
    cvcount: int
    becount: int
    prbs: int
    errsec: int
    irqmisses: int
    syncsrc: int
    numchans: int
    totalchans: int
    totalspans: int
    lbo: int
    lineconfig: int
    lboname: str
    location: str
    manufacturer: str
    devicetype: str
    irq: int
    linecompat: int
    spantype: str

    @staticmethod
    def request(spanno: int = 0) -> bytes:
        """A dahdi_spaninfo buffer asking about ``spanno`` (0: the fd's channel's span)."""
        buf = bytearray(SIZEOF_SPANINFO)
        struct.pack_into("=i", buf, 0, spanno)
        return bytes(buf)

    @classmethod
    def unpack(cls, data: bytes) -> SpanInfo:
        v = list(struct.unpack(SPANINFO_FORMAT, data[:SIZEOF_SPANINFO]))
        v = [_cstr(x) if isinstance(x, bytes) else x for x in v]
        return cls(*v)

    def pack(self) -> bytes:
        vals = [getattr(self, f) for f in self.__dataclass_fields__]
        return struct.pack(SPANINFO_FORMAT, *[
            x.encode("latin-1") if isinstance(x, str) else x for x in vals])


#: Byte offsets of the fields the driver reads, checked against offsetof() by the gcc test.
SPANINFO_OFFSETS: dict[str, int] = {}
PARAMS_OFFSETS: dict[str, int] = {}


def _offsets(fmt: str, names: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    pos = 0
    items: list[tuple[int, str]] = []
    num = ""
    for ch in fmt[1:]:
        if ch.isdigit():
            num += ch
            continue
        n = int(num or "1")
        num = ""
        if ch == "s":
            items.append((n, ch))
        else:
            items.extend((1, ch) for _ in range(n))
    for name, (n, ch) in zip(names, items, strict=True):
        out[name] = pos
        pos += n if ch == "s" else struct.calcsize("=" + ch)
    return out


SPANINFO_OFFSETS.update(_offsets(SPANINFO_FORMAT, list(SpanInfo.__dataclass_fields__)))
PARAMS_OFFSETS.update(_offsets(PARAMS_FORMAT, [
    "channo", "spanno", "chanpos", "sigtype", "sigcap", "rxisoffhook", "rxbits", "txbits",
    "txhooksig", "rxhooksig", "curlaw", "idlebits", "name", "prewinktime", "preflashtime",
    "winktime", "flashtime", "starttime", "rxwinktime", "rxflashtime", "debouncetime",
    "pulsebreaktime", "pulsemaketime", "pulseaftertime", "chan_alarms"]))
BUFINFO_OFFSETS: dict[str, int] = _offsets(BUFINFO_FORMAT, [
    "txbufpolicy", "rxbufpolicy", "numbufs", "bufsize", "readbufs", "writebufs"])
