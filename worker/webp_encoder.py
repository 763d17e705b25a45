"""WebP encoding through libwebp's own configuration (pywebp, the ``webp`` package), so
a rendition's looks that share one alpha plane compress it once.

Pillow exposes quality, method and alpha quality but not how the alpha plane is
compressed. The display rendition's artistic looks mostly keep the cut-out's alpha
exactly (``blackwhite``, ``halftone`` and ``popart`` do; ``retro8bit`` makes it
blocky), and compressing that plane is about 0.03 s of each 1600x1200 look's 0.075 s.
So the first look with a given alpha is encoded in full and its ``ALPH`` chunk kept in
:class:`AlphaChunks`; a later look with the same alpha is encoded with its alpha stored
raw (no filtering, no quantisation: a copy) and the kept chunk put in its place. The
file is the one a full encode would give, byte for byte: libwebp compresses the alpha
plane apart from the colour, whose conversion and cleanup see the same alpha either way
(tests/test_webp_encoder.py checks it on every look).
"""

from __future__ import annotations

import struct
import threading

import numpy as np
import webp

#: The WebP format's limit on each side (a 14-bit field).
MAX_SIDE = 16383
_ALPH = b"ALPH"


class AlphaChunks:
    """The compressed alpha planes of one rendition's results, to reuse. Thread-safe:
    results are encoded in a pool; two looks encoded at the same moment each compress
    their own (correct, merely not shared)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._known: list[tuple[np.ndarray, bytes]] = []

    def find(self, alpha: np.ndarray) -> bytes | None:
        with self._lock:
            known = list(self._known)
        return next((chunk for plane, chunk in known if np.array_equal(plane, alpha)), None)

    def keep(self, alpha: np.ndarray, chunk: bytes) -> None:
        with self._lock:
            self._known.append((alpha, chunk))

    def __len__(self) -> int:
        """How many alpha planes are kept."""
        with self._lock:
            return len(self._known)


def encode_webp(
    pixels: np.ndarray,
    *,
    quality: float,
    method: int,
    lossless: bool = False,
    alpha_quality: int = 100,
    shared: AlphaChunks | None = None,
) -> bytes:
    """``pixels`` (HxWx3 RGB or HxWx4 RGBA uint8) as a WebP file. With ``shared``, a
    lossy RGBA image reuses an alpha chunk already compressed for an equal alpha plane,
    and keeps its own for the next."""
    h, w = pixels.shape[:2]
    if max(h, w) > MAX_SIDE:
        raise ValueError(f"WebP holds at most {MAX_SIDE} px a side; this image is {w}x{h}")
    config = webp.WebPConfig.new(quality=quality, method=method, lossless=lossless)
    config.ptr.alpha_quality = alpha_quality
    if lossless or pixels.shape[2] == 3 or shared is None:
        return _encode(pixels, config)
    alpha = pixels[:, :, 3]
    chunk = shared.find(alpha)
    if chunk is None:
        data = _encode(pixels, config)
        compressed = _chunks(data).get(_ALPH)  # none if every pixel is opaque
        if compressed is not None:
            shared.keep(alpha, compressed)
        return data
    config.ptr.alpha_compression = 0  # stored raw: replaced below
    config.ptr.alpha_filtering = 0
    config.ptr.alpha_quality = 100
    return _riff({**_chunks(_encode(pixels, config)), _ALPH: chunk})


def _encode(pixels: np.ndarray, config: webp.WebPConfig) -> bytes:
    """``WebPPicture.encode`` without its error path, which reads a field pywebp does not
    declare (an ``AttributeError``): a refusal is a ``ValueError`` saying so."""
    picture = webp.WebPPicture.from_numpy(np.ascontiguousarray(pixels))
    writer = webp.WebPMemoryWriter.new()
    picture.ptr.writer = webp.ffi.addressof(webp.lib, "WebPMemoryWrite")
    picture.ptr.custom_ptr = writer.ptr
    if not webp.lib.WebPEncode(config.ptr, picture.ptr):
        raise ValueError(
            "libwebp refused to encode the image (bad configuration or size, or out of memory)"
        )
    return bytes(writer.to_webp_data().buffer())


def _chunks(data: bytes) -> dict[bytes, bytes]:
    """The chunks of a still WebP file libwebp wrote (VP8X, ALPH, VP8), in file order."""
    chunks, offset = {}, 12
    while offset < len(data):
        tag, size = data[offset : offset + 4], struct.unpack_from("<I", data, offset + 4)[0]
        chunks[tag] = data[offset + 8 : offset + 8 + size]
        offset += 8 + size + (size & 1)  # chunks are padded to an even length
    return chunks


def _riff(chunks: dict[bytes, bytes]) -> bytes:
    body = b"".join(
        tag + struct.pack("<I", len(payload)) + payload + b"\0" * (len(payload) & 1)
        for tag, payload in chunks.items()
    )
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body
