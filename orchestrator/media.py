"""Checks for files and links that users send, before any model sees them.

* ``sniff`` decides what a file is from its bytes (magic numbers), never from its name alone:
  platforms happily label an HTML error page ``photo.png``.
* ``check_size`` and ``check_image`` refuse oversized files and images that are corrupt or
  decompression bombs; ``check_audio`` refuses audio whose sample rate, channel count or
  duration would make a model run away (a 3 KB WAV at 1 Hz resamples to 25 M samples), from the
  header and again from the decoded length (headers lie); ``check_video`` probes duration and
  dimensions with PyAV; ``check_text`` bounds text files. ``validate_attachment`` runs the size
  check, ``sniff`` and the check for the kind found, before any model sees the file.
* ``fetch_url`` downloads a user-supplied link without letting it reach our own network (SSRF):
  the host is resolved once, every address must be public, the connection is pinned to the
  checked address, and each redirect hop is checked again.

Every refusal is an ``InputError`` whose message says what to do. ``check_image`` and
``validate_attachment`` decode images (CPU-bound): from async code, run them with
``asyncio.to_thread``.
"""

from __future__ import annotations

import asyncio
import io
import ipaddress
import socket
import warnings
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import httpx
from PIL import Image

from .errors import InputError
from .types import Kind

MAX_IMAGE_PIXELS = 50_000_000
MAX_AUDIO_SECONDS = 600.0  # HGBOT_MAX_AUDIO_SECONDS
AUDIO_RATES = (8_000, 192_000)  # Hz: telephone to studio; outside it a header is broken or hostile
MAX_AUDIO_CHANNELS = 8
MAX_VIDEO_SECONDS = 600.0
MAX_VIDEO_PIXELS = 7680 * 4320  # 8K UHD per frame
MAX_TEXT_BYTES = 2 * 1024 * 1024  # 2 MB of text is ~500k tokens: far past any model's context
IMAGE_FORMATS = ("PNG", "JPEG", "GIF", "WEBP", "BMP", "TIFF")
SUPPORTED = (
    "images (PNG, JPEG, GIF, WEBP, BMP, TIFF), audio (WAV, MP3, FLAC, OGG, M4A), "
    "video (MP4, MOV, WEBM, MKV, AVI) and UTF-8 text (.txt, .md, .csv, .json)"
)
WEB_PAGE_MESSAGE = (
    "got a web page instead of the file — the bot may lack permission to read files "
    "(Slack: add the files:read scope)"
)

TEXT_SUFFIXES = frozenset({".txt", ".md", ".markdown", ".csv", ".tsv", ".json", ".jsonl", ".log", ".yaml", ".yml"})
_MEDIA_SUFFIXES = frozenset({
    ".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tif", ".tiff", ".wav", ".mp3", ".flac", ".ogg",
    ".oga", ".opus", ".m4a", ".aac", ".mp4", ".m4v", ".mov", ".webm", ".mkv", ".avi",
})
_AUDIO_HINT_SUFFIXES = frozenset({".m4a", ".m4b", ".aac", ".weba", ".mka", ".opus", ".oga"})
_HEIF_BRANDS = frozenset({
    b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis",
})
_AUDIO_MP4_BRANDS = frozenset({b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "})
_QUICKTIME_ATOMS = frozenset({b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"})


# -- what is this file? ------------------------------------------------------------------------------


def sniff(data: bytes, filename: str = "", claimed_mime: str = "") -> tuple[Kind, str, str]:
    """Return ``(kind, mime, suffix)`` for ``data``, e.g. ``("image", "image/png", ".png")``.

    The bytes decide; ``filename`` and ``claimed_mime`` only break ties the bytes cannot (an MP4
    or WebM container holding only audio) and name the file in error messages. Raises
    ``InputError`` for empty files, PDFs, web pages, text posing as media, and unknown types.
    """
    name = filename or "the file"
    if not data:
        raise InputError(f"{name} is empty.")
    found = _sniff_binary(data, filename, claimed_mime)
    if found is not None:
        return found
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    suffix = PurePosixPath(filename.lower()).suffix
    if _is_html(head):
        if suffix in (".html", ".htm"):  # the user really sent a web page: read it as text
            return "text", "text/plain", suffix
        raise InputError(f"{name}: {WEB_PAGE_MESSAGE}.")
    if head.startswith(b"<svg") or (head.startswith((b"<?xml", b"<!--")) and b"<svg" in head):
        raise InputError(f"{name} is an SVG drawing, which is not supported yet; export it as PNG and send that.")
    text = _as_text(data)
    if text is not None:
        media_hint = claimed_mime.split("/")[0] in ("image", "audio", "video") or suffix in _MEDIA_SUFFIXES
        if media_hint:
            snippet = " ".join(text[:60].split())
            raise InputError(
                f"{name} should be a media file but contains text ({snippet!r}…); the download probably failed."
            )
        return "text", "text/plain", suffix if suffix in TEXT_SUFFIXES else ".txt"
    if suffix in TEXT_SUFFIXES or claimed_mime.startswith("text/"):
        raise InputError(f"{name} is not UTF-8 text ({_encoding_problem(data)}); save it as UTF-8 and send it again.")
    claimed = f" (it says {claimed_mime})" if claimed_mime else ""
    raise InputError(f"{name} is not a file type hgbot can use{claimed}. Supported: {SUPPORTED}.")


def _encoding_problem(data: bytes) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return f"byte 0x{data[exc.start]:02x} at position {exc.start} is not valid UTF-8"
    return "it contains NUL or control characters" if "\x00" in text else "too many control characters"


def _sniff_binary(data: bytes, filename: str, claimed_mime: str) -> tuple[Kind, str, str] | None:
    """Magic-number matches; None when the bytes match no binary format we know."""
    name = filename or "the file"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image", "image/png", ".png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image", "image/jpeg", ".jpg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image", "image/gif", ".gif"
    if data.startswith((b"II*\x00", b"MM\x00*")):
        return "image", "image/tiff", ".tiff"
    bmp_header_sizes = (12, 40, 52, 56, 64, 108, 124)  # "BM" alone is too weak: check the DIB header
    if data.startswith(b"BM") and len(data) >= 26 and int.from_bytes(data[14:18], "little") in bmp_header_sizes:
        return "image", "image/bmp", ".bmp"
    if data.startswith((b"RIFF", b"RF64")) and len(data) >= 12:
        form = data[8:12]
        if form == b"WEBP":
            return "image", "image/webp", ".webp"
        if form == b"WAVE":
            return "audio", "audio/wav", ".wav"
        if form == b"AVI ":
            return "video", "video/x-msvideo", ".avi"
    if data.startswith(b"%PDF-"):
        raise InputError(f"{name} is a PDF, and PDFs are not supported yet; convert the page to an image "
                         "(PNG or JPEG) and send that.")
    if data.startswith(b"fLaC"):
        return "audio", "audio/flac", ".flac"
    if data.startswith(b"ID3"):
        # An ID3 tag can precede FLAC too; look past it.
        if len(data) >= 10:
            size = (data[6] & 0x7F) << 21 | (data[7] & 0x7F) << 14 | (data[8] & 0x7F) << 7 | (data[9] & 0x7F)
            if data[10 + size:10 + size + 4] == b"fLaC":
                return "audio", "audio/flac", ".flac"
        return "audio", "audio/mpeg", ".mp3"
    if _is_mp3_frame(data):
        return "audio", "audio/mpeg", ".mp3"
    if data.startswith(b"OggS"):
        if b"\x80theora" in data[:512]:
            return "video", "video/ogg", ".ogv"
        return "audio", "audio/ogg", ".ogg"
    if len(data) >= 12 and data[4:8] == b"ftyp":
        return _sniff_iso_media(data[8:12], name, _prefers_audio(filename, claimed_mime))
    if len(data) >= 8 and data[4:8] in _QUICKTIME_ATOMS:
        return "video", "video/quicktime", ".mov"
    if data.startswith(b"\x1a\x45\xdf\xa3"):  # EBML: Matroska or WebM
        webm = b"webm" in data[:64]
        if _prefers_audio(filename, claimed_mime):
            return ("audio", "audio/webm", ".weba") if webm else ("audio", "audio/x-matroska", ".mka")
        return ("video", "video/webm", ".webm") if webm else ("video", "video/x-matroska", ".mkv")
    return None


def _sniff_iso_media(brand: bytes, name: str, audio_hint: bool) -> tuple[Kind, str, str]:
    """MP4-family files by major brand: M4A is audio, QuickTime is MOV, HEIF/AVIF are refused."""
    if brand in _AUDIO_MP4_BRANDS:
        return "audio", "audio/mp4", ".m4a"
    if brand in _HEIF_BRANDS:
        raise InputError(f"{name} is a HEIC/AVIF image, which is not supported yet; send it as JPEG or PNG.")
    if brand == b"qt  ":
        return "video", "video/quicktime", ".mov"
    if audio_hint:  # generic brands (isom, mp42) also carry audio-only files
        return "audio", "audio/mp4", ".m4a"
    if brand.startswith((b"3gp", b"3g2")):
        return "video", "video/3gpp", ".3gp"
    return "video", "video/mp4", ".mp4"


def _is_mp3_frame(data: bytes) -> bool:
    """An MPEG audio frame header: 11 sync bits, then no reserved version/layer/bitrate/rate."""
    if len(data) < 4 or data[0] != 0xFF or data[1] & 0xE0 != 0xE0:
        return False
    version, layer = (data[1] >> 3) & 3, (data[1] >> 1) & 3
    bitrate, rate = data[2] >> 4, (data[2] >> 2) & 3
    return version != 1 and layer != 0 and bitrate not in (0, 15) and rate != 3


def _prefers_audio(filename: str, claimed_mime: str) -> bool:
    return claimed_mime.startswith("audio/") or PurePosixPath(filename.lower()).suffix in _AUDIO_HINT_SUFFIXES


def _is_html(head: bytes) -> bool:
    if head.startswith((b"<!doctype html", b"<html", b"<head", b"<body")):
        return True
    return head.startswith((b"<!--", b"<?xml")) and b"<html" in head


def _as_text(data: bytes) -> str | None:
    """The text, when ``data`` is UTF-8 with no NULs and (almost) no control characters."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    if "\x00" in text:
        return None
    sample = text[:65536]
    controls = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\t\n\r\f\v\x1b")
    return text if controls <= len(sample) // 100 else None


# -- size and image checks -----------------------------------------------------------------------


def format_size(n: float) -> str:
    """``63.2 MB``, ``50 MB``, ``12.5 KB``, ``3 bytes`` (1 MB = 1024² bytes, as in the settings)."""
    for unit, scale in (("MB", 1024 * 1024), ("KB", 1024)):
        if n >= scale:
            return f"{n / scale:.1f}".removesuffix(".0") + f" {unit}"
    return f"{int(n)} bytes"


def check_size(data: bytes, max_bytes: int, filename: str = "") -> None:
    """Raise ``InputError`` ("x.png is 63.2 MB; the limit is 50 MB") when ``data`` is too big."""
    if len(data) > max_bytes:
        name = filename or "The file"
        raise InputError(f"{name} is {format_size(len(data))}; the limit is {format_size(max_bytes)}.")


def check_image(data: bytes, max_pixels: int = MAX_IMAGE_PIXELS) -> tuple[int, int]:
    """Decode ``data`` fully as one of ``IMAGE_FORMATS``; return ``(width, height)``.

    Refuses decompression bombs (Pillow's warning is turned into an error, and anything over
    ``max_pixels`` is refused before decoding), unreadable and truncated images.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=IMAGE_FORMATS) as image:
                width, height = image.size
                _check_pixels(width, height, max_pixels)
                image.load()
        except InputError:
            raise
        except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
            raise InputError(f"The image is too large: {exc}", hint=_PIXELS_HINT) from exc
        except Exception as exc:  # decoders raise assorted types on hostile bytes; all mean "unusable"
            raise InputError(f"The image is corrupt or unreadable ({type(exc).__name__}: {exc}).",
                             hint="Send it again, or as PNG or JPEG.") from exc
    return width, height


_PIXELS_HINT = "Resize it to at most a few thousand pixels on each side."


def _check_pixels(width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise InputError(f"The image is too large: {width}×{height} pixels "
                         f"(the limit is {max_pixels / 1e6:g} megapixels).", hint=_PIXELS_HINT)


def validate_attachment(filename: str, data: bytes, claimed_mime: str, max_bytes: int, *,
                        max_audio_seconds: float = MAX_AUDIO_SECONDS) -> tuple[Kind, str, str]:
    """Size check, then ``sniff``, then the check for the kind found; returns ``sniff``'s result.

    Every kind is checked here, before the file is stored or any model sees it.
    """
    check_size(data, max_bytes, filename)
    kind, mime, suffix = sniff(data, filename, claimed_mime)
    try:
        if kind == "image":
            check_image(data)
        elif kind == "audio":
            check_audio(data, max_seconds=max_audio_seconds)
        elif kind == "video":
            check_video(data)
        else:
            check_text(data)
    except InputError as exc:
        raise InputError(f"{filename or 'The file'}: {exc}", hint=exc.hint) from exc
    return kind, mime, suffix


# -- audio, video and text checks ----------------------------------------------------------------


@dataclass(frozen=True)
class AudioInfo:
    rate: int
    channels: int
    seconds: float


def check_audio_format(rate: float, channels: int, seconds: float, max_seconds: float = MAX_AUDIO_SECONDS) -> None:
    """Refuse a sample rate, channel count or duration that no model should be asked to process."""
    low, high = AUDIO_RATES
    if not low <= rate <= high:
        raise InputError(f"audio at {int(rate)} Hz: sample rate must be {low // 1000}–{high // 1000} kHz.",
                         hint="Export it again at 16, 44.1 or 48 kHz.")
    if not 1 <= channels <= MAX_AUDIO_CHANNELS:
        raise InputError(f"audio with {channels} channels: at most {MAX_AUDIO_CHANNELS} are supported.",
                         hint="Export it as mono or stereo.")
    if seconds > max_seconds:
        raise InputError(f"audio of {_duration(seconds)}: the limit is {_duration(max_seconds)}.",
                         hint="Send a shorter clip.")


def check_audio(data: bytes, max_seconds: float = MAX_AUDIO_SECONDS) -> AudioInfo:
    """Check ``data``'s header, then decode it in bounded blocks to count what is really there.

    soundfile (libsndfile) reads WAV, FLAC, OGG and MP3; other containers (M4A, WebM audio) are
    probed with PyAV. Raises ``InputError`` for an out-of-range or unreadable file.
    """
    import soundfile as sf

    _check_wav_header(data, max_seconds)
    try:
        info = sf.info(io.BytesIO(data))
    except Exception:  # libsndfile does not know the container: let PyAV decide
        return _probe_audio_av(data, max_seconds)
    check_audio_format(info.samplerate, info.channels, info.frames / max(info.samplerate, 1), max_seconds)
    limit = int(max_seconds * info.samplerate) + 1
    frames = 0
    try:
        # The header's frame count can lie (truncated or padded files): count decoded frames,
        # block by block, and stop past the limit instead of decoding everything.
        for block in sf.blocks(io.BytesIO(data), blocksize=1 << 16, frames=limit + 1, dtype="float32"):
            frames += len(block)
    except Exception as exc:
        raise InputError(f"the audio is corrupt or unreadable ({type(exc).__name__}).",
                         hint="Send it again, or as WAV or MP3.") from exc
    if frames == 0:
        raise InputError("the audio file holds no sound.")
    check_audio_format(info.samplerate, info.channels, frames / info.samplerate, max_seconds)
    return AudioInfo(int(info.samplerate), int(info.channels), frames / info.samplerate)


_STREAMING_SIZES = (0, 0xFFFFFFFF)  # written before the length was known (piped ffmpeg, recorders)


def _check_wav_header(data: bytes, max_seconds: float) -> None:
    """Read a RIFF/WAVE header ourselves, so a hostile rate or channel count is refused by name
    even where a decoder would fail with an opaque error (or, worse, accept it)."""
    if not data.startswith(b"RIFF") or data[8:12] != b"WAVE":
        return
    pos, rate, channels, block = 12, 0, 0, 0
    while pos + 8 <= len(data):
        chunk, size = data[pos:pos + 4], int.from_bytes(data[pos + 4:pos + 8], "little")
        body = pos + 8
        if chunk == b"fmt " and size >= 16 and body + 16 <= len(data):
            channels = int.from_bytes(data[body + 2:body + 4], "little")
            rate = int.from_bytes(data[body + 4:body + 8], "little")
            block = int.from_bytes(data[body + 12:body + 14], "little")
        elif chunk == b"data":
            if not rate:
                raise InputError("the WAV file has no format header before its sound.")
            check_audio_format(rate, channels, 0.0, max_seconds)
            if not block:
                raise InputError("the WAV header is broken (0 bytes per sample frame).")
            held = len(data) - body
            if size not in _STREAMING_SIZES and size > held:
                raise InputError(f"the WAV file is truncated: its header promises {format_size(size)} of sound "
                                 f"but it holds {format_size(held)}.", hint="Send the complete file again.")
            if size not in _STREAMING_SIZES:
                check_audio_format(rate, channels, size / block / rate, max_seconds)
            return
        pos = body + size + (size & 1)  # chunks are word-aligned


def _probe_audio_av(data: bytes, max_seconds: float) -> AudioInfo:
    with _open_av(data, "audio") as container:
        if not container.streams.audio:
            raise InputError("the file holds no audio track.")
        stream = container.streams.audio[0]
        rate, channels = int(stream.codec_context.sample_rate or 0), int(stream.codec_context.channels or 0)
        check_audio_format(rate, channels, _av_seconds(container, stream), max_seconds)
        seconds = _demuxed_seconds(container, stream, max_seconds)
        check_audio_format(rate, channels, seconds, max_seconds)
        return AudioInfo(rate, channels, seconds)


def check_video(data: bytes, max_seconds: float = MAX_VIDEO_SECONDS, max_pixels: int = MAX_VIDEO_PIXELS) -> None:
    """Probe ``data`` with PyAV: a video track whose frame size and duration are within limits."""
    with _open_av(data, "video") as container:
        if not container.streams.video:
            raise InputError("the file holds no video track.")
        stream = container.streams.video[0]
        width, height = int(stream.codec_context.width or 0), int(stream.codec_context.height or 0)
        if width <= 0 or height <= 0:
            raise InputError("the video's frame size is unreadable.", hint="Send it again as MP4.")
        if width * height > max_pixels:
            raise InputError(f"video of {width}×{height} pixels: the limit is {max_pixels / 1e6:g} megapixels.",
                             hint="Scale it down to 1080p or 4K.")
        for seconds in (_av_seconds(container, stream), _demuxed_seconds(container, stream, max_seconds)):
            if seconds > max_seconds:
                raise InputError(f"video of {_duration(seconds)}: the limit is {_duration(max_seconds)}.",
                                 hint="Send a shorter clip.")


def check_text(data: bytes, max_bytes: int = MAX_TEXT_BYTES) -> None:
    """Text files: UTF-8 (``sniff`` already refused anything else) and at most ``max_bytes``."""
    if len(data) > max_bytes:
        raise InputError(f"a text file of {format_size(len(data))}: the limit for text is {format_size(max_bytes)}.",
                         hint="Send the part that matters.")
    if _as_text(data) is None:
        raise InputError(f"the text is not UTF-8 ({_encoding_problem(data)}).", hint="Save it as UTF-8.")


@contextmanager
def _open_av(data: bytes, what: str) -> Iterator[Any]:
    try:
        import av
    except ImportError as exc:  # checks cannot be skipped: no prober, no file
        raise InputError(f"{what} files cannot be checked here (PyAV is not installed).",
                         hint="Install PyAV: pip install -e '.[models]' in the hgbot checkout.") from exc
    try:
        container = av.open(io.BytesIO(data), mode="r")
    except Exception as exc:  # FFmpeg raises assorted errors on hostile bytes; all mean "unusable"
        raise InputError(f"the {what} is corrupt or unreadable ({type(exc).__name__}).") from exc
    try:
        yield container
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"the {what} is corrupt or unreadable ({type(exc).__name__}).") from exc
    finally:
        container.close()


def _av_seconds(container: Any, stream: Any) -> float:
    """The duration the container or stream header states (0 when it states none)."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    return float(container.duration or 0) / 1_000_000


def _demuxed_seconds(container: Any, stream: Any, max_seconds: float) -> float:
    """The end time of the last packet actually in the file, read without decoding, stopping past
    ``max_seconds`` (a header may claim 1 s and hold hours, or the reverse)."""
    end = 0.0
    for packet in container.demux(stream):
        if packet.pts is None or packet.time_base is None:
            continue
        end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
        if end > max_seconds:
            break
    return end


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min".replace(".0 min", " min")


# -- fetching user-supplied links ------------------------------------------------------------------

Resolver = Callable[[str, int], Awaitable[list[str]]]
"""``(host, port) -> IP address strings``; the default asks the system resolver."""

_IO_TIMEOUT_S = 20.0  # per connect/read; the overall limit is fetch_url's total_seconds
_METADATA_ADDRESSES = frozenset({ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")})
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def is_public_address(address: str) -> bool:
    """True for a globally routable unicast address; False for private, loopback, link-local,
    multicast, reserved, unspecified, cloud metadata, and IPv6 forms wrapping any of those."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public_address(str(embedded))
    if ip in _METADATA_ADDRESSES:
        return False
    return ip.is_global and not (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast
                                 or ip.is_reserved or ip.is_unspecified)


async def is_public_url(url: str, *, allow_http: bool = False, resolve: Resolver | None = None) -> bool:
    """True when ``fetch_url`` would be allowed to connect to ``url``'s host (resolves it)."""
    try:
        await _public_address(_parse_url(url, allow_http), resolve or _system_resolve)
    except InputError:
        return False
    return True


async def fetch_url(
    url: str, max_bytes: int, *, allow_http: bool = False, total_seconds: float = 60.0, max_redirects: int = 3,
    resolve: Resolver | None = None, transport: httpx.AsyncBaseTransport | None = None,
) -> bytes:
    """Download ``url`` (https only unless ``allow_http``) to at most ``max_bytes`` bytes.

    Each hop resolves the host once, requires every address to be public, and connects to the
    checked address (Host header and TLS SNI/certificate check still use the name), so DNS
    rebinding cannot swap in an internal address after the check. Redirects are followed by
    hand, at most ``max_redirects``, each re-checked. The whole download, DNS included, must end
    within ``total_seconds`` (a server dripping one byte at a time cannot hold a task forever).
    ``resolve`` and ``transport`` let tests run without DNS or network. Raises ``InputError`` for
    every refusal or failure.
    """
    first = _parse_url(url, allow_http)
    try:
        async with asyncio.timeout(total_seconds):
            return await _fetch(first, max_bytes, allow_http, max_redirects, resolve or _system_resolve, transport)
    except TimeoutError as exc:
        raise InputError(f"Cannot fetch {_display(first)}: it took longer than {total_seconds:g} s.") from exc


async def _fetch(current: httpx.URL, max_bytes: int, allow_http: bool, max_redirects: int, resolve: Resolver,
                 transport: httpx.AsyncBaseTransport | None) -> bytes:
    first = current
    # trust_env=False: no proxy may bypass the pin. No keep-alive: the pool is keyed by address,
    # so a connection opened for one name (its SNI and certificate) must not serve another.
    async with httpx.AsyncClient(transport=transport, timeout=_IO_TIMEOUT_S, follow_redirects=False,
                                 trust_env=False, limits=httpx.Limits(max_keepalive_connections=0)) as client:
        for _hop in range(max_redirects + 1):
            address = await _public_address(current, resolve)
            request = _pinned_request(client, current, address)
            try:
                response = await client.send(request, stream=True)
            except httpx.TimeoutException as exc:
                raise InputError(f"Cannot fetch {_display(current)}: the server did not answer in time.") from exc
            except httpx.HTTPError as exc:
                raise InputError(f"Cannot fetch {_display(current)}: {type(exc).__name__}: {exc}.") from exc
            try:
                if response.is_redirect:
                    current = _parse_url(str(current.join(response.headers["location"])), allow_http)
                    continue
                if response.status_code != 200:
                    raise InputError(f"Cannot fetch {_display(current)}: the server answered HTTP "
                                     f"{response.status_code}.")
                return await _read_capped(response, max_bytes, current)
            finally:
                await response.aclose()
    raise InputError(f"Cannot fetch {_display(first)}: more than {max_redirects} redirects.")


def _parse_url(url: str, allow_http: bool) -> httpx.URL:
    try:
        parsed = httpx.URL(url.strip())
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise InputError(f"{url[:80]!r} is not a valid link.") from exc
    allowed = ("https", "http") if allow_http else ("https",)
    if parsed.scheme not in allowed or not parsed.host:
        schemes = " and ".join(s + "://" for s in allowed)
        raise InputError(f"Only {schemes} links can be fetched, not {url[:80]!r}.")
    return parsed


async def _public_address(url: httpx.URL, resolve: Resolver) -> str:
    """The first address of ``url``'s host, once every address it resolves to is public."""
    host = url.raw_host.decode("ascii")  # IDNA-encoded, as DNS wants it
    refused = InputError(f"Refusing to fetch {_display(url)}: {url.host} is not a public internet address.")
    if host == "localhost" or host.endswith(".localhost"):
        raise refused
    try:
        addresses = await resolve(host, url.port or (443 if url.scheme == "https" else 80))
    except (OSError, UnicodeError) as exc:
        raise InputError(f"Cannot fetch {_display(url)}: the host {url.host} was not found.") from exc
    if not addresses:
        raise InputError(f"Cannot fetch {_display(url)}: the host {url.host} was not found.")
    # All of them, not just the first: a name may list a public and an internal address.
    if not all(is_public_address(a) for a in addresses):
        raise refused
    return addresses[0].split("%", 1)[0]


async def _system_resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _pinned_request(client: httpx.AsyncClient, url: httpx.URL, address: str) -> httpx.Request:
    host = url.raw_host.decode("ascii")
    host_header = f"[{host}]" if ":" in host else host
    if url.port is not None:
        host_header += f":{url.port}"
    extensions = {}
    if url.scheme == "https" and not _is_ip_literal(host):
        extensions["sni_hostname"] = host  # TLS names and verifies the host, not the address
    return client.build_request("GET", url.copy_with(host=address), headers={
        "Host": host_header, "Accept-Encoding": "identity", "User-Agent": "hgbot",
    }, extensions=extensions)


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def _read_capped(response: httpx.Response, max_bytes: int, url: httpx.URL) -> bytes:
    too_big = InputError(f"{_display(url)} is larger than the limit of {format_size(max_bytes)}.")
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise too_big
    chunks: list[bytes] = []
    total = 0
    async for chunk in response.aiter_bytes():
        total += len(chunk)
        if total > max_bytes:  # the header can lie or be absent: count what actually arrives
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)


def _display(url: httpx.URL) -> str:
    """The link without its query (it may hold tokens), short enough for a chat message."""
    text = f"{url.scheme}://{url.host}{url.path}"
    return text if len(text) <= 80 else text[:77] + "..."
