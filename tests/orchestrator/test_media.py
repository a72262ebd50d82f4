from __future__ import annotations

import asyncio
import io
import struct
import wave
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from orchestrator.errors import InputError
from orchestrator.media import (
    SUPPORTED,
    WEB_PAGE_MESSAGE,
    Resolver,
    check_audio,
    check_image,
    check_size,
    check_video,
    fetch_url,
    format_size,
    is_public_address,
    is_public_url,
    sniff,
    validate_attachment,
)
from tests.fakes.hostile_media import HOSTILE_WAVS, mp4
from tests.fakes.hostile_media import wav as hostile_wav

MB = 1024 * 1024


# -- real bytes --------------------------------------------------------------------------------------


def _image(fmt: str, size: tuple[int, int] = (32, 24)) -> bytes:
    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
    out = io.BytesIO()
    img.save(out, format=fmt)
    return out.getvalue()


def _wav() -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\x00\x01" * 1600)
    return out.getvalue()


def _soundfile(fmt: str) -> bytes:
    out = io.BytesIO()
    sf.write(out, np.zeros(1600, dtype="float32"), 16000, format=fmt)
    return out.getvalue()


def _png_header(width: int, height: int) -> bytes:
    """A PNG that claims ``width``×``height`` 1-bit pixels: a few dozen bytes, a huge decode."""
    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _ftyp(brand: bytes) -> bytes:
    return struct.pack(">I", 24) + b"ftyp" + brand + b"\x00\x00\x02\x00" + brand + b"isom" + b"\x00" * 64


HTML_LOGIN = b"""<!DOCTYPE html>
<html lang="en"><head><title>Sign in | Slack</title></head>
<body><form action="/signin"><input type="password" name="password"></form></body></html>"""


@pytest.mark.parametrize(("data", "expected"), [
    (_image("PNG"), ("image", "image/png", ".png")),
    (_image("JPEG"), ("image", "image/jpeg", ".jpg")),
    (_image("GIF"), ("image", "image/gif", ".gif")),
    (_image("WEBP"), ("image", "image/webp", ".webp")),
    (_image("BMP"), ("image", "image/bmp", ".bmp")),
    (_image("TIFF"), ("image", "image/tiff", ".tiff")),
    (_wav(), ("audio", "audio/wav", ".wav")),
    (_soundfile("FLAC"), ("audio", "audio/flac", ".flac")),
    (_soundfile("OGG"), ("audio", "audio/ogg", ".ogg")),
    (b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x64" + bytes(400), ("audio", "audio/mpeg", ".mp3")),
    (b"\xff\xfb\x90\x64" + bytes(400), ("audio", "audio/mpeg", ".mp3")),
    (_ftyp(b"M4A "), ("audio", "audio/mp4", ".m4a")),
    (_ftyp(b"isom"), ("video", "video/mp4", ".mp4")),
    (_ftyp(b"qt  "), ("video", "video/quicktime", ".mov")),
    (b"\x1a\x45\xdf\xa3\xa3\x42\x86\x81\x01\x42\x82\x84webm" + bytes(64), ("video", "video/webm", ".webm")),
    (b"\x1a\x45\xdf\xa3\xa3\x42\x82\x88matroska" + bytes(64), ("video", "video/x-matroska", ".mkv")),
    (b"RIFF\x00\x00\x00\x00AVI LIST" + bytes(64), ("video", "video/x-msvideo", ".avi")),
])
def test_sniff_recognises_formats_from_bytes(data: bytes, expected: tuple[str, str, str]) -> None:
    # A misleading name and claimed type must not matter.
    assert sniff(data, "upload.bin", "application/octet-stream") == expected


def test_sniff_uses_hints_only_for_audio_in_video_containers() -> None:
    assert sniff(_ftyp(b"mp42"), "voice.m4a") == ("audio", "audio/mp4", ".m4a")
    assert sniff(_ftyp(b"mp42"), "clip", "audio/mp4") == ("audio", "audio/mp4", ".m4a")
    assert sniff(_ftyp(b"mp42"), "clip.mp4")[0] == "video"
    # ...and never turn a PNG into audio.
    assert sniff(_image("PNG"), "voice.m4a", "audio/mp4")[0] == "image"


@pytest.mark.parametrize("data", [
    HTML_LOGIN, b"\xef\xbb\xbf\n  " + HTML_LOGIN.lower(), b"<html><body>x</body></html>",
])
def test_web_page_instead_of_a_file_names_the_permission_problem(data: bytes) -> None:
    with pytest.raises(InputError) as err:
        sniff(data, "photo.png", "image/png")
    assert WEB_PAGE_MESSAGE in str(err.value) and "photo.png" in str(err.value)


def test_an_actual_html_file_is_read_as_text() -> None:
    assert sniff(HTML_LOGIN, "page.html") == ("text", "text/plain", ".html")


@pytest.mark.parametrize(("filename", "suffix"), [("notes.txt", ".txt"), ("README.md", ".md"),
                                                   ("t.csv", ".csv"), ("d.json", ".json"), ("", ".txt")])
def test_utf8_text_is_text(filename: str, suffix: str) -> None:
    data = "col,ünïcode ✓\n1,2\n".encode()
    assert sniff(data, filename, "text/plain") == ("text", "text/plain", suffix)


def test_text_posing_as_media_is_refused() -> None:
    with pytest.raises(InputError, match="photo.png should be a media file but contains text"):
        sniff(b'{"ok": false, "error": "not_authed"}', "photo.png", "image/png")


def test_pdf_is_refused_with_a_conversion_hint() -> None:
    with pytest.raises(InputError, match="PDFs are not supported yet.*convert"):
        sniff(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "paper.pdf")


def test_unknown_and_empty_files_are_refused_readably() -> None:
    with pytest.raises(InputError) as err:
        sniff(bytes(range(256)) * 4, "blob.xyz", "application/x-thing")
    assert "blob.xyz" in str(err.value) and SUPPORTED in str(err.value)
    with pytest.raises(InputError, match="empty"):
        sniff(b"", "nothing.png")
    with pytest.raises(InputError, match="HEIC"):
        sniff(_ftyp(b"heic"), "IMG_0001.HEIC")


def test_check_size_message() -> None:
    check_size(b"x" * 10, 10, "ok.png")
    with pytest.raises(InputError) as err:
        check_size(bytes(int(63.2 * MB)), 50 * MB, "x.png")
    assert str(err.value) == "x.png is 63.2 MB; the limit is 50 MB."
    assert format_size(1536) == "1.5 KB" and format_size(3) == "3 bytes"


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP", "BMP", "TIFF"])
def test_check_image_accepts_real_images(fmt: str) -> None:
    assert check_image(_image(fmt, (40, 30))) == (40, 30)


def test_decompression_bomb_is_refused() -> None:
    bomb = _png_header(12000, 12000)  # 144 MP: past Pillow's own bomb threshold
    assert len(bomb) < 200
    with pytest.raises(InputError, match="too large"):
        check_image(bomb)


def test_images_over_our_pixel_cap_are_refused_before_decoding() -> None:
    with pytest.raises(InputError, match="8000×8000 pixels"):
        check_image(_png_header(8000, 8000))  # 64 MP: under Pillow's threshold, over ours


def test_truncated_and_foreign_images_are_corrupt() -> None:
    png = _image("PNG", (64, 64))
    with pytest.raises(InputError, match="corrupt"):
        check_image(png[: len(png) // 2])
    with pytest.raises(InputError, match="corrupt"):
        check_image(_wav())


def test_validate_attachment_combines_the_checks() -> None:
    assert validate_attachment("cat.png", _image("PNG"), "image/png", MB) == ("image", "image/png", ".png")
    assert validate_attachment("a.wav", _wav(), "", MB)[0] == "audio"
    png = _image("PNG", (64, 64))
    with pytest.raises(InputError, match="cat.png: The image is corrupt"):
        validate_attachment("cat.png", png[:100], "image/png", MB)
    with pytest.raises(InputError, match="big.html is .* the limit is 1 KB"):
        validate_attachment("big.html", HTML_LOGIN * 20, "", 1024)  # size is checked first


# -- links ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("address", "public"), [
    ("93.184.215.14", True), ("2606:4700:4700::1111", True),
    ("127.0.0.1", False), ("10.1.2.3", False), ("172.16.0.1", False), ("192.168.1.1", False),
    ("169.254.169.254", False), ("100.64.0.1", False), ("0.0.0.0", False), ("224.0.0.1", False),
    ("240.0.0.1", False), ("::1", False), ("fe80::1%eth0", False), ("fd00:ec2::254", False),
    ("::ffff:127.0.0.1", False), ("64:ff9b::a00:1", False), ("2002:7f00:1::", False), ("nonsense", False),
])
def test_is_public_address(address: str, public: bool) -> None:
    assert is_public_address(address) is public


def _no_network(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"must not connect: {request.url}")


@pytest.mark.parametrize("url", [
    "https://localhost/", "https://10.0.0.1/", "https://[::1]/", "https://169.254.169.254/latest/meta-data/",
    "https://127.0.0.1/x", "https://2130706433/", "https://0x7f.1/", "https://app.localhost/",
])
async def test_fetch_refuses_internal_addresses(url: str) -> None:
    with pytest.raises(InputError, match="not a public internet address"):
        await fetch_url(url, MB, transport=httpx.MockTransport(_no_network))
    assert not await is_public_url(url)


async def test_fetch_refuses_http_unless_allowed() -> None:
    with pytest.raises(InputError, match="Only https://"):
        await fetch_url("http://127.0.0.1/x", MB, transport=httpx.MockTransport(_no_network))
    with pytest.raises(InputError, match="not a public"):
        await fetch_url("http://127.0.0.1/x", MB, allow_http=True, transport=httpx.MockTransport(_no_network))
    with pytest.raises(InputError, match="Only"):
        await fetch_url("file:///etc/passwd", MB, allow_http=True, transport=httpx.MockTransport(_no_network))


def _resolver(table: dict[str, list[str]]) -> Resolver:
    async def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError("not found")
        return table[host]
    return resolve


DNS = _resolver({
    "files.example.com": ["93.184.215.14"],
    "cdn.example.net": ["2606:4700::6810:84e5"],
    "rebind.example": ["93.184.215.14", "10.0.0.7"],
    "evil.example": ["127.0.0.1"],
})


async def test_fetch_connects_to_the_checked_address_with_the_name_in_host_and_sni() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=b"\x89PNG...")

    data = await fetch_url("https://files.example.com/a/cat.png?token=s3cret", MB, resolve=DNS,
                           transport=httpx.MockTransport(handler))
    assert data == b"\x89PNG..."
    (req,) = seen
    assert req.url.host == "93.184.215.14" and req.url.path == "/a/cat.png" and req.url.query == b"token=s3cret"
    assert req.headers["host"] == "files.example.com"
    assert req.extensions["sni_hostname"] == "files.example.com"
    assert await is_public_url("https://files.example.com/", resolve=DNS)


async def test_fetch_refuses_a_name_with_any_internal_address() -> None:
    for url in ("https://evil.example/", "https://rebind.example/"):
        with pytest.raises(InputError, match="not a public"):
            await fetch_url(url, MB, resolve=DNS, transport=httpx.MockTransport(_no_network))
    with pytest.raises(InputError, match="not found"):
        await fetch_url("https://nowhere.example/", MB, resolve=DNS, transport=httpx.MockTransport(_no_network))


async def test_every_redirect_hop_is_checked() -> None:
    hops: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        hops.append(f"{request.headers['host']}{request.url.path}")
        if request.url.path == "/start":
            return httpx.Response(302, headers={"location": "/next"})
        if request.url.path == "/next":
            return httpx.Response(301, headers={"location": "https://cdn.example.net/file"})
        if request.url.path == "/file":
            return httpx.Response(200, content=b"ok")
        if request.url.path == "/internal":
            return httpx.Response(307, headers={"location": "https://evil.example/admin"})
        if request.url.path == "/plain":
            return httpx.Response(302, headers={"location": "http://files.example.com/file"})
        if request.url.path == "/loop":
            return httpx.Response(302, headers={"location": "/loop"})
        return httpx.Response(404)

    transport = httpx.MockTransport(handler)
    assert await fetch_url("https://files.example.com/start", MB, resolve=DNS, transport=transport) == b"ok"
    assert hops == ["files.example.com/start", "files.example.com/next", "cdn.example.net/file"]
    with pytest.raises(InputError, match="evil.example is not a public"):
        await fetch_url("https://files.example.com/internal", MB, resolve=DNS, transport=transport)
    with pytest.raises(InputError, match="Only https://"):
        await fetch_url("https://files.example.com/plain", MB, resolve=DNS, transport=transport)
    hops.clear()
    with pytest.raises(InputError, match="more than 3 redirects"):
        await fetch_url("https://files.example.com/loop", MB, resolve=DNS, transport=transport)
    assert len(hops) == 4
    with pytest.raises(InputError, match="HTTP 404"):
        await fetch_url("https://files.example.com/missing", MB, resolve=DNS, transport=transport)


async def test_fetch_caps_the_size_even_when_the_server_does_not_say_it() -> None:
    async def endless() -> AsyncIterator[bytes]:
        for _ in range(1000):
            yield b"x" * 1024

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/declared":
            return httpx.Response(200, headers={"content-length": str(10 * MB)}, content=b"")
        return httpx.Response(200, content=endless())

    transport = httpx.MockTransport(handler)
    for path in ("/declared", "/stream"):
        with pytest.raises(InputError, match="larger than the limit of 64 KB"):
            await fetch_url(f"https://files.example.com{path}", 64 * 1024, resolve=DNS, transport=transport)


async def test_fetch_has_an_overall_deadline() -> None:
    async def slow(host: str, port: int) -> list[str]:
        await asyncio.sleep(5)
        return ["93.184.215.14"]

    with pytest.raises(InputError, match="longer than 0.05 s"):
        await fetch_url("https://files.example.com/", MB, total_seconds=0.05, resolve=slow,
                        transport=httpx.MockTransport(_no_network))


# -- audio, video and text intake --------------------------------------------------------------------


@pytest.mark.parametrize("name", list(HOSTILE_WAVS))
def test_hostile_wav_is_refused_with_a_sentence(name: str) -> None:
    data, needle = HOSTILE_WAVS[name]
    with pytest.raises(InputError) as info:
        validate_attachment("memo.wav", data, "audio/wav", 50 * 1024 * 1024)
    assert str(info.value).startswith("memo.wav: ") and needle in str(info.value), str(info.value)


def test_the_reported_3_kb_wav_at_1_hz_is_refused_at_intake() -> None:
    data = hostile_wav(rate=1, frames=1600)
    assert 3000 < len(data) < 3300
    with pytest.raises(InputError, match="audio at 1 Hz: sample rate must be 8–192 kHz"):
        validate_attachment("memo.wav", data, "", 1024 * 1024)


@pytest.mark.parametrize(("rate", "channels", "fmt"), [(8000, 1, "WAV"), (48000, 2, "FLAC"), (16000, 8, "OGG")])
def test_ordinary_audio_passes_and_reports_its_length(rate: int, channels: int, fmt: str) -> None:
    buf = io.BytesIO()
    sf.write(buf, np.zeros((rate // 2, channels), np.float32), rate, format=fmt)
    info = check_audio(buf.getvalue())
    assert (info.rate, info.channels) == (rate, channels) and info.seconds == pytest.approx(0.5, abs=0.01)


def test_audio_duration_limit_is_a_setting() -> None:
    data = hostile_wav(rate=8000, frames=8000 * 3)
    assert check_audio(data, max_seconds=5).seconds == pytest.approx(3)
    with pytest.raises(InputError, match="audio of 3 s: the limit is 2 s"):
        validate_attachment("a.wav", data, "", 1 << 20, max_audio_seconds=2)


def test_streamed_wav_with_unknown_length_is_measured_by_decoding() -> None:
    # Recorders and piped ffmpeg write 0xFFFFFFFF as the data size; the decoded length decides.
    data = hostile_wav(rate=8000, frames=8000 * 3, data_size=0xFFFFFFFF)
    with pytest.raises(InputError, match="audio of 3 s"):
        check_audio(data, max_seconds=2)


def test_audio_settings_reach_intake(tmp_path: Path) -> None:
    from bot.config import load_settings

    assert load_settings({"HGBOT_MAX_AUDIO_SECONDS": "42", "HGBOT_HOME": str(tmp_path)}).max_audio_seconds == 42
    assert load_settings({"HGBOT_HOME": str(tmp_path)}).max_audio_seconds == 600


def test_loader_refuses_a_generated_wav_that_would_explode_resampling(tmp_path: Path) -> None:
    from orchestrator.backends._audio import read_audio, resample

    path = tmp_path / "out.wav"
    path.write_bytes(hostile_wav(rate=1, frames=1600))
    with pytest.raises(InputError, match="audio at 1 Hz"):
        read_audio(path, 16000)
    with pytest.raises(InputError, match="audio at 2 Hz"):
        resample(np.zeros(1600, np.float32), 2, 16000)
    path.write_bytes(hostile_wav(rate=8000, frames=8000 * 3))
    with pytest.raises(InputError, match="the limit is 2 s"):
        read_audio(path, 16000, max_seconds=2)
    wave_, rate = read_audio(path, 16000)
    assert rate == 16000 and len(wave_) == 48000


def test_ordinary_video_passes() -> None:
    kind, mime, _ = validate_attachment("clip.mp4", mp4(), "video/mp4", 1 << 20)
    assert (kind, mime) == ("video", "video/mp4")


def test_video_too_long_or_too_large_is_refused() -> None:
    data = mp4(seconds=3)
    with pytest.raises(InputError, match="video of 3 s: the limit is 2 s"):
        check_video(data, max_seconds=2)
    with pytest.raises(InputError, match="video of 64×48 pixels: the limit is 0.001 megapixels"):
        check_video(data, max_pixels=1000)


def test_truncated_or_fake_video_is_refused() -> None:
    data = mp4()
    with pytest.raises(InputError, match=r"clip.mp4: (the video is corrupt|the file holds no video)"):
        validate_attachment("clip.mp4", data[:200], "video/mp4", 1 << 20)
    with pytest.raises(InputError, match="clip.mp4: the video is corrupt or unreadable"):
        validate_attachment("clip.mp4", b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 400, "video/mp4", 1 << 20)


def test_text_files_must_be_utf8_and_bounded() -> None:
    with pytest.raises(InputError, match=r"notes.txt is not UTF-8 text \(byte 0xe9 at position 3"):
        validate_attachment("notes.txt", "café".encode("latin-1") * 3, "text/plain", 1 << 20)
    with pytest.raises(InputError, match="notes.txt: a text file of 3 MB: the limit for text is 2 MB"):
        validate_attachment("notes.txt", b"words " * (512 * 1024), "text/plain", 50 << 20)
    assert validate_attachment("notes.md", "naïve – ok".encode(), "", 1 << 20)[0] == "text"
