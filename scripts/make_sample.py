"""Render the bundled OCR sample, orchestrator/data/samples/text.png (run once; the PNG is committed).

Uses DejaVu Sans when installed (fonts-dejavu-core), else Pillow's built-in scalable font.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

SENTENCE = "The quick brown fox jumps over the lazy dog."
OUT = Path(__file__).resolve().parent.parent / "orchestrator" / "data" / "samples" / "text.png"
DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def render(text: str = SENTENCE, size: int = 32) -> Image.Image:
    font = ImageFont.truetype(str(DEJAVU), size) if DEJAVU.exists() else ImageFont.load_default(size)
    left, top, right, bottom = ImageDraw.Draw(Image.new("L", (1, 1))).textbbox((0, 0), text, font=font)
    img = Image.new("L", (right - left + 48, bottom - top + 48), 255)
    ImageDraw.Draw(img).text((24 - left, 24 - top), text, fill=0, font=font)
    return img


if __name__ == "__main__":
    OUT.parent.mkdir(parents=True, exist_ok=True)
    render().save(OUT, optimize=True)
    print(OUT, OUT.stat().st_size, "bytes")
