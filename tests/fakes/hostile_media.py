"""Hostile and ordinary media files built byte by byte: WAV headers that lie, tiny videos."""

from __future__ import annotations

import io
import struct

import numpy as np


def wav(rate: int = 16000, channels: int = 1, bits: int = 16, frames: int = 1600, *, data_size: int | None = None,
        payload: bytes | None = None, block_align: int | None = None) -> bytes:
    """A PCM WAV whose header fields can each be set to anything, true or not."""
    block = block_align if block_align is not None else channels * bits // 8
    body = payload if payload is not None else b"\x01\x00" * (frames * channels * bits // 16)
    size = len(body) if data_size is None else data_size
    fmt = struct.pack("<HHIIHH", 1, channels, rate & 0xFFFFFFFF, (rate * block) & 0xFFFFFFFF, block & 0xFFFF, bits)
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", size & 0xFFFFFFFF) + body
    return b"RIFF" + struct.pack("<I", (4 + len(chunks)) & 0xFFFFFFFF) + b"WAVE" + chunks


# name -> (bytes, what the refusal must mention)
HOSTILE_WAVS: dict[str, tuple[bytes, str]] = {
    "1 Hz, 3.2 KB": (wav(rate=1, frames=1600), "audio at 1 Hz: sample rate must be 8–192 kHz"),
    "1 Hz, 32 KB": (wav(rate=1, frames=16000), "audio at 1 Hz"),
    "4 GHz": (wav(rate=0xFFFFFFFF, frames=100), "sample rate must be 8–192 kHz"),
    "7999 Hz": (wav(rate=7999, frames=100), "audio at 7999 Hz"),
    "65535 channels": (wav(channels=65535, frames=2), "65535 channels: at most 8"),
    "9 channels": (wav(channels=9, frames=100), "9 channels: at most 8"),
    "header promises 4 GB": (wav(rate=8000, frames=100, data_size=0xFFFFFFF0), "truncated"),
    "header only": (wav(frames=0), "no sound"),
    "zero-size frames": (wav(bits=0, block_align=0), "broken"),
    "11 minutes": (wav(rate=8000, bits=8, payload=b"\x80" * 8000 * 660), "the limit is 10 min"),
}


def mp4(width: int = 64, height: int = 48, seconds: float = 1.0, fps: int = 10) -> bytes:
    """A real MPEG-4 video made with PyAV."""
    import av

    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as out:
        stream = out.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(int(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(np.full((height, width, 3), i * 10 % 255, np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue()
