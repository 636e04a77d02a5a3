"""The planned float64 decoder: a chunk header parsed once into a plan, one Numba kernel per chunk.

The checked decoder (:mod:`.decode`) costs ~10 us of Python per chunk (meta lookups, a reader, dict copies, several
numpy calls) and its bitsparse scatter reads one bit at a time. A frame pass decodes thousands of column chunks
(F-MNIST: 785 x 8), so that fixed cost was most of it. Here a header is parsed once into a *plan* (two small arrays)
that one Numba kernel reads to write the chunk straight into the float64 output. Plans are cached on the
EncodedChunk and, across calls, per wire header (:mod:`.wire`). Anything the plan does not cover or the kernel
finds inconsistent (short payload, bad row ids, a mask whose count differs from nnz) goes to the checked decoder,
which raises the precise error.
"""
from __future__ import annotations

from typing import Any

import lz4.block
import numpy as np
from numba import njit

from .format import EXACT, INNER_CODECS, KINDS, MAX_DIGITS, UINT, EncodedChunk, split_inner
from .pool import check_out
from .simd import EXPAND, expand_mask, mask_count

# plan slots (int64 array)
_P_LAYOUT, _P_N, _P_M, _P_IDXW, _P_VOFF, _P_VK, _P_W, _P_NA, _P_MOFF, _P_BIAS, _P_I8NA, _P_I8NAV, _P_CONST = range(13)
P_SIZE = 13
_L_DENSE, _L_SPARSE, _L_BITS = 0, 1, 2                          # layouts
_VK_CONST, _VK_NARROW, _VK_NARROW_I64, _VK_F4, _VK_F8, _VK_I8 = range(6)  # how stored values read
_NA_MODE = {"none": 0, "sentinel": 1, "mask": 2}
_F_BIAS, _F_DIV, _F_FILL = 0, 1, 2                              # float64 plan slots


def _is_int(x: Any) -> bool:
    return type(x) is int


def _aligned(pos: int) -> int:
    return pos + (-pos % 8)


def _to_i64(u: int) -> int:
    return u - 2**64 if u >= 2**63 else u


def _plan_values(codec: str, meta: dict[str, Any], kind: str, m: int, pos: int,
                 ip: np.ndarray, fp: np.ndarray) -> int | None:
    """Plan the ``m`` stored values of a dense codec whose sections start at ``pos``; returns the end."""
    if codec == "const":
        if kind == "i":
            nas, value = meta["nas"], meta["value"]
            if not _is_int(value):
                return None
            x = np.nan if nas else float(value)
            bits = int(np.array(x, np.float64).view(np.uint64))
        else:
            bits = meta["bits"]
            if not _is_int(bits) or not 0 <= bits < 2**64:
                return None
        ip[_P_VK], ip[_P_CONST] = _VK_CONST, _to_i64(bits)
        return pos
    if codec in ("int", "dec", "cat"):
        w = meta["width"]
        if not _is_int(w) or w not in UINT:
            return None
        if codec == "cat":
            mode, bias = (1 if meta["nas"] else 0), 0
        else:
            mode, bias = _NA_MODE.get(meta["na"]) if isinstance(meta["na"], str) else None, meta["bias"]
            if mode is None or not _is_int(bias) or not -2**63 <= bias < 2**63:
                return None
        if codec == "dec":
            digits = meta["digits"]
            if not _is_int(digits) or not 1 <= digits <= MAX_DIGITS:
                return None
            fp[_F_DIV] = 10.0 ** digits
        # same arithmetic as _dec_float_into: float add when exact, else int64 add then one rounding
        ip[_P_VK] = _VK_NARROW if abs(bias) + 2 ** (8 * w) <= EXACT else _VK_NARROW_I64
        ip[_P_W], ip[_P_NA], ip[_P_BIAS] = w, mode, bias
        fp[_F_BIAS] = float(bias)
        pos = _aligned(pos)
        ip[_P_VOFF] = pos
        pos += m * w
        if mode == 2:
            pos = _aligned(pos)
            ip[_P_MOFF] = pos
            pos += (m + 7) // 8
        return pos
    if codec in ("f4", "f8", "i8"):
        if codec == "i8":
            nav = meta["na_value"]
            if nav is not None and not (_is_int(nav) and -2**63 <= nav < 2**63):
                return None
            ip[_P_I8NA], ip[_P_I8NAV] = (0, 0) if nav is None else (1, nav)
        ip[_P_VK] = {"f4": _VK_F4, "f8": _VK_F8, "i8": _VK_I8}[codec]
        pos = _aligned(pos)
        ip[_P_VOFF] = pos
        return pos + m * (4 if codec == "f4" else 8)
    return None


def _make_plan(codec: str, nrows: int, meta: dict[str, Any]) -> tuple | None:
    """(int plan, float plan, payload bytes, LZ4 raw size or None, the two plans as bytes), or None: use the
    checked decoder."""
    kind = meta.get("kind")
    if kind not in KINDS:
        return None
    raw = meta.get("lz4")
    if raw is not None and not (_is_int(raw) and 0 <= raw < 2**31):
        return None
    ip = np.zeros(P_SIZE, np.int64)
    fp = np.zeros(3, np.float64)
    ip[_P_N] = n = nrows
    try:
        if codec in ("sparse", "bitsparse"):
            nnz, fill = meta["nnz"], meta["fill"]
            if not _is_int(nnz) or not 0 <= nnz <= n or fill not in ("zero", "na"):
                return None
            if meta.get("v_codec") not in INNER_CODECS:
                return None
            inner_codec, inner = split_inner(meta)
            fp[_F_FILL] = 0.0 if fill == "zero" else np.nan
            ip[_P_M] = nnz
            if codec == "sparse":
                iw = meta["idx_width"]
                if not _is_int(iw) or iw not in (2, 4):
                    return None
                ip[_P_LAYOUT], ip[_P_IDXW] = _L_SPARSE, iw
                pos = nnz * iw
            else:
                ip[_P_LAYOUT] = _L_BITS
                pos = (n + 7) // 8
            end = _plan_values(inner_codec, inner, kind, nnz, pos, ip, fp)
        elif codec in ("const", "int", "dec", "f4", "f8", "i8", "cat"):
            ip[_P_LAYOUT], ip[_P_M] = _L_DENSE, n
            end = _plan_values(codec, meta, kind, n, 0, ip, fp)
        else:
            return None
    except (KeyError, TypeError, ValueError, OverflowError):
        return None
    if end is None:
        return None
    ip.flags.writeable = fp.flags.writeable = False
    return ip, fp, end, raw, ip.tobytes(), fp.tobytes()     # bytes: rows of a block's plan table


def plan_of(enc: EncodedChunk) -> tuple | None:
    """The cached plan of ``enc`` (False cached when there is none)."""
    d = enc.__dict__
    plan = d.get("_plan")
    if plan is None:
        plan = d["_plan"] = _make_plan(enc.codec, enc.nrows, enc.meta) or False
    return plan


@njit(nogil=True, cache=True, error_model="numpy")
def _narrow_into(s, ip, fp, buf, out):
    """Stored unsigned ints -> float64 (bias, decimal scale, NA) into out (of s.size).

    Loops index from 0 with the range variable (no ``dst + i``) so LLVM drops numba's negative-index
    wraparound and vectorises them.
    """
    m = s.size
    biasf, div = fp[_F_BIAS], fp[_F_DIV]
    if ip[_P_VK] == _VK_NARROW:
        if div != 0.0:
            for i in range(m):
                out[i] = (s[i] + biasf) / div
        else:
            for i in range(m):
                out[i] = s[i] + biasf
    else:
        bias = ip[_P_BIAS]
        for i in range(m):
            out[i] = np.float64(np.int64(s[i]) + bias)
        if div != 0.0:
            for i in range(m):
                out[i] = out[i] / div
    mode = ip[_P_NA]
    if mode == 1:
        sentinel = (1 << (8 * ip[_P_W])) - 1
        for i in range(m):
            if s[i] == sentinel:
                out[i] = np.nan
    elif mode == 2:
        moff = ip[_P_MOFF]
        for i in range(m):
            if (buf[moff + (i >> 3)] >> (7 - (i & 7))) & 1:
                out[i] = np.nan


@njit(nogil=True, cache=True, error_model="numpy")
def _scatter_ids(idx, fill, out):
    """Rows ``idx`` (increasing, < n) get the m values held in the last m slots of out, the others ``fill``.

    The values are copied aside, out filled whole, then the values put in place: filling the gaps one by
    one cost a mispredicted branch per stored value (twice the time at F-MNIST's 1-in-10 density).
    Returns False, before anything is moved, when idx is not increasing or reaches n.
    """
    n, m = out.size, idx.size
    prev = -1
    for j in range(m):
        r = np.int64(idx[j])
        if r <= prev or r >= n:
            return False
        prev = r
    vals = out[n - m:].copy()
    out[:] = fill
    for j in range(m):
        out[np.uint64(idx[j])] = vals[j]      # unsigned: no negative-index fix-up
    return True


@njit(nogil=True, cache=True, error_model="numpy")
def decode_kernel(buf, ip, fp, out):
    """Decode one planned chunk payload into ``out``; 0 on success, 1 when the payload is inconsistent.

    Bitsparse narrow ints expand straight from the payload where the CPU can (EXPAND). Other sparse
    layouts decode their m stored values into the last m slots of out, then spread them over out.
    """
    n, m, layout = ip[_P_N], ip[_P_M], ip[_P_LAYOUT]
    if out.size != n or m > n:
        return 1
    nmask = (n + 7) >> 3
    vk, voff = ip[_P_VK], ip[_P_VOFF]
    if layout == _L_BITS and EXPAND and vk == _VK_NARROW and ip[_P_NA] != 2:   # straight from the stored ints
        w = ip[_P_W]
        if voff + w * m > buf.size:
            return 1
        ok = expand_mask(buf, m, np.int64(buf.ctypes.data) + voff, w, fp[_F_BIAS], fp[_F_DIV], ip[_P_NA],
                          fp[_F_FILL], out)
        return 0 if ok else 1
    if layout == _L_BITS and not EXPAND and mask_count(buf, n) != m:   # the scalar scatter trusts the count
        return 1
    dst = n - m                              # stored values go to the last m slots
    vals = out[dst:dst + m]                   # where the stored values go
    if vk == _VK_CONST:
        o = vals.view(np.int64)
        c = ip[_P_CONST]
        for i in range(m):
            o[i] = c
    elif vk == _VK_NARROW or vk == _VK_NARROW_I64:
        w = ip[_P_W]
        if w == 1:
            _narrow_into(buf[voff:voff + m], ip, fp, buf, vals)
        elif w == 2:
            _narrow_into(buf[voff:voff + 2 * m].view(np.uint16), ip, fp, buf, vals)
        else:
            _narrow_into(buf[voff:voff + 4 * m].view(np.uint32), ip, fp, buf, vals)
    elif vk == _VK_F4:
        v4 = buf[voff:voff + 4 * m].view(np.float32)
        for i in range(m):
            vals[i] = v4[i]
    elif vk == _VK_F8:                        # copied as integers: every bit pattern survives
        v8 = buf[voff:voff + 8 * m].view(np.int64)
        o = vals.view(np.int64)
        for i in range(m):
            o[i] = v8[i]
    else:
        vi = buf[voff:voff + 8 * m].view(np.int64)
        for i in range(m):
            vals[i] = np.float64(vi[i])
        if ip[_P_I8NA]:
            nav = ip[_P_I8NAV]
            for i in range(m):
                if vi[i] == nav:
                    vals[i] = np.nan
    fill = fp[_F_FILL]
    if layout == _L_SPARSE:
        if ip[_P_IDXW] == 2:
            ok = _scatter_ids(buf[:2 * m].view(np.uint16), fill, out)
        else:
            ok = _scatter_ids(buf[:4 * m].view(np.uint32), fill, out)
        return 0 if ok else 1
    if layout == _L_BITS:
        if EXPAND:
            return 0 if expand_mask(buf, m, np.int64(out.ctypes.data) + 8 * dst, 8, 0.0, 0.0, 0, fill, out) else 1
        _scatter_mask(buf[:nmask], fill, m, out)
    return 0


@njit(nogil=True, cache=True, error_model="numpy")
def _scatter_mask(mask, fill, m, out):
    """Set bits of ``mask`` (np.packbits order) take the m values held in the last m slots of out, in
    order (copied, so every bit pattern survives); clear bits take ``fill``.

    Forward, in place: the read slot never trails the write slot, and equals it only once every fill row
    is written. The caller has checked that the first n = out.size bits hold exactly m set bits. Mixed
    bytes are written branch-free (a row's bit would mispredict about a third of the time on image data).
    Indices are unsigned so that numba drops its negative-index fix-ups (a fifth of the time on F-MNIST), and
    only bytes from the last non-zero one on clamp their reads (the slot after the last value is out's end).
    """
    n = out.size
    one = np.uint64(1)
    src = np.uint64(n - m)
    last = np.uint64(n - 1)
    nfull = n >> 3
    safe = nfull                              # bytes before the last non-zero one never read past out's end
    while safe > 0 and mask[safe - 1] == 0:
        safe -= 1
    safe -= 1
    for b in range(nfull):
        x = np.uint64(mask[b])
        base = np.uint64(b << 3)
        if x == 0:
            for k in range(8):
                out[base + np.uint64(k)] = fill
        elif x == 0xFF:
            for k in range(8):
                out[base + np.uint64(k)] = out[src + np.uint64(k)]
            src += np.uint64(8)
        elif b < safe:
            for k in range(8):
                bit = (x >> np.uint64(7 - k)) & one
                v = out[src]
                out[base + np.uint64(k)] = v if bit else fill
                src += bit
        else:
            for k in range(8):
                bit = (x >> np.uint64(7 - k)) & one
                v = out[min(src, last)]
                out[base + np.uint64(k)] = v if bit else fill
                src += bit
    base = nfull << 3
    rest = np.int64(src)
    for k in range(n - base):
        if (mask[nfull] >> (7 - k)) & 1:
            out[base + k] = out[rest]
            rest += 1
        else:
            out[base + k] = fill


def decode_fast(enc: EncodedChunk, out: np.ndarray | None) -> np.ndarray | None:
    """The planned decode of ``enc`` into ``out`` (allocated if None), or None: use the checked decoder."""
    plan = plan_of(enc)
    if not plan:
        return None
    ip, fp, nbytes, raw = plan[:4]
    data = enc.data
    if raw is not None:
        try:
            data = lz4.block.decompress(data, uncompressed_size=raw)
        except lz4.block.LZ4BlockError:
            return None
    if len(data) != nbytes:
        return None
    out = check_out(out, enc.nrows)
    if decode_kernel(np.frombuffer(data, np.uint8), ip, fp, out):
        return None
    return out
