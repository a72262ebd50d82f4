"""Control maps in the form each ControlNet was trained on.

The seg ControlNet (control_v11p_sd15_seg) was trained on ADE20K segmentations painted with the
150-colour ADE20K palette, one colour per class index; a map in any other colours means nothing to
it. ade20k_map paints a segmentation pipeline's masks that way, looking each segment's label up
in the model's own label2id (ADE20K models number their classes in the palette's order).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL import Image

# The ADE20K palette, class 0 (wall) first, as RGB hex triples.
_ADE20K_HEX = (
    "787878b4787806e6e650323204c8037878508c8c8ccc05ffe6e6e604fa07e005ffebff0796053d78784608ff33ff0652"
    "8fff8cccff04ff3307cc46030066c83de6faff06330b66ffff0747ff09e00907e6dcdcdcff095c7009ff08ffd607ffe0"
    "ffb8060aff47ff290a07ffffe0ff086608ffff3d06ffc207ff7a0800ff14ff0829ff05990633ffeb0cffa0961400a3ff"
    "8c8c8cfa0a0f14ff001fff00ff1f00ffe00099ff000000ffff470000ebff00adff1f00ff0bc8c8ff520000fff5003dff"
    "00ff7000ff85ff0000ffa300ff6600c2ff00008fff33ff000052ff00ff2900ffad0a00ffadff0000ff99ff5c00ff00ff"
    "ff00f5ff0066ffad00ff0014ffb8b8001fff00ff3d0047ffff00cc00ffc200ff52000aff0070ff3300ff00c2ff007aff"
    "00ffa3ff990000ff0aff70008fff005200ffa3ff00ffeb0008b8aa8500ff00ff5cb800ffff001f00b8ff00d6ffff0070"
    "5cff0000e0ff70e0ff46b8a0a300ff9900ff47ff00ff00a3ffcc00ff008f00ffeb85ff00ff00ebf500ffff007afff500"
    "0abed4d6ff0000ccff1400ffffff000099ff0029ff00ffcc2900ff29ff00ad00ff00f5ff4700ff7a00ff00ffb8005cff"
    "b8ff000085ffffd60019c2c266ff005c00ff"
)
ADE20K_PALETTE: tuple[tuple[int, int, int], ...] = tuple(
    (int(_ADE20K_HEX[i:i + 2], 16), int(_ADE20K_HEX[i + 2:i + 4], 16), int(_ADE20K_HEX[i + 4:i + 6], 16))
    for i in range(0, len(_ADE20K_HEX), 6))
assert len(ADE20K_PALETTE) == 150


def ade20k_colour(label: str, label2id: Mapping[str, int]) -> tuple[int, int, int]:
    """The palette colour of label: its class index in label2id, wrapped into the 150 colours
    (a model with other classes still gets one stable colour per class)."""
    index = label2id.get(label)
    if index is None:
        lowered = {k.lower(): v for k, v in label2id.items()}
        index = lowered.get(label.lower(), 0)
    return ADE20K_PALETTE[int(index) % len(ADE20K_PALETTE)]


def ade20k_map(size: tuple[int, int], segments: Sequence[Mapping[str, Any]], label2id: Mapping[str, int]) -> Image.Image:
    """An RGB image of size with every segment's mask filled in its ADE20K colour (later segments
    paint over earlier ones; pixels in no segment stay black)."""
    import numpy as np
    from PIL import Image

    width, height = size
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    for seg in segments:
        mask = seg["mask"]
        if mask.size != (width, height):
            mask = mask.resize((width, height), Image.Resampling.NEAREST)
        canvas[np.asarray(mask.convert("L")) > 127] = ade20k_colour(str(seg["label"]), label2id)
    return Image.fromarray(canvas)
