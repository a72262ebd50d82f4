"""Image and video encoding for model outputs: PIL images in, PNG / MP4 / GIF bytes out.

Only Pillow and numpy are required; MP4 needs PyAV (``av``) and falls back to an animated GIF.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from ..types import FileOutput

# Distinct colours for boxes and masks (tab10).
PALETTE: tuple[tuple[int, int, int], ...] = (
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
)


def open_image(path: str | Path) -> Image.Image:
    """Open ``path`` as an RGB image, fully read so the file can be closed or deleted."""
    with Image.open(path) as img:
        img.load()
        return img.convert("RGB")


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def png_output(img: Image.Image, description: str = "") -> FileOutput:
    return FileOutput(kind="image", data=png_bytes(img), mime="image/png", suffix=".png", description=description)


def to_pil(frame: Any) -> Image.Image:
    """A PIL image from a PIL image or an HxWxC array (uint8, or float in [0, 1])."""
    if isinstance(frame, Image.Image):
        return frame.convert("RGB")
    arr = np.asarray(frame)
    if arr.dtype != np.uint8:
        arr = (np.clip(arr.astype(np.float32), 0.0, 1.0) * 255).round().astype(np.uint8)
    if arr.ndim == 2:
        return Image.fromarray(arr, mode="L").convert("RGB")
    return Image.fromarray(arr[..., :3]).convert("RGB")


def draw_boxes(img: Image.Image, detections: Sequence[dict[str, Any]]) -> Image.Image:
    """A copy of ``img`` with each detection (``label``, ``score``, ``box``: xmin/ymin/xmax/ymax) drawn."""
    out = img.convert("RGB").copy()
    draw = ImageDraw.Draw(out)
    width = max(1, round(min(out.size) / 150))
    for i, det in enumerate(detections):
        box = det["box"]
        color = PALETTE[i % len(PALETTE)]
        xy = (box["xmin"], box["ymin"], box["xmax"], box["ymax"])
        draw.rectangle(xy, outline=color, width=width)
        draw.text((xy[0] + 2, xy[1] + 1), f"{det['label']} {det['score']:.2f}", fill=color)
    return out


def overlay_masks(img: Image.Image, masks: Sequence[Image.Image], alpha: float = 0.5) -> Image.Image:
    """``img`` with each binary mask (mode L, same size) tinted in its own colour."""
    base = np.asarray(img.convert("RGB"), dtype=np.float32)
    out = base.copy()
    for i, mask in enumerate(masks):
        m = np.asarray(mask.convert("L").resize(img.size), dtype=np.float32)[..., None] / 255.0
        color = np.array(PALETTE[i % len(PALETTE)], dtype=np.float32)
        out = out * (1 - alpha * m) + color * (alpha * m)
    return Image.fromarray(out.clip(0, 255).astype(np.uint8))


def depth_image(depth: Any) -> Image.Image:
    """A grey-scale PNG-ready image from a depth map (PIL image or 2-D array), stretched to 0..255."""
    if isinstance(depth, Image.Image):
        arr = np.asarray(depth.convert("F"), dtype=np.float32)
    else:
        arr = np.asarray(depth, dtype=np.float32).squeeze()
    lo, hi = float(arr.min()), float(arr.max())
    scaled = (arr - lo) / (hi - lo) * 255 if hi > lo else np.zeros_like(arr)
    return Image.fromarray(scaled.astype(np.uint8), mode="L")


def video_output(frames: Sequence[Any], fps: int = 8, description: str = "") -> FileOutput:
    """Encode frames as H.264 MP4 when PyAV can, else as an animated GIF (Pillow always can)."""
    images = [to_pil(f) for f in frames]
    if not images:
        raise ValueError("no frames to encode")
    try:
        data = _mp4_bytes(images, fps)
    except Exception:  # PyAV missing, or built without an H.264/MPEG-4 encoder
        data = None
    if data:
        return FileOutput(kind="video", data=data, mime="video/mp4", suffix=".mp4", description=description)
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0)
    return FileOutput(kind="video", data=buf.getvalue(), mime="image/gif", suffix=".gif", description=description)


def _mp4_bytes(images: list[Image.Image], fps: int) -> bytes:
    import av

    # yuv420p needs even sides
    w, h = images[0].size
    w, h = w + w % 2, h + h % 2
    codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
    buf = io.BytesIO()
    container = av.open(buf, mode="w", format="mp4")
    try:
        stream: Any = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for img in images:
            frame = av.VideoFrame.from_ndarray(np.asarray(img.resize((w, h))), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    finally:
        container.close()
    return buf.getvalue()
