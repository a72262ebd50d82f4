"""Checks for files and links that users send, before any model sees them.

* ``sniff`` decides what a file is from its bytes (magic numbers), never from its name alone:
  platforms happily label an HTML error page ``photo.png``.
* ``check_size`` and ``check_image`` refuse oversized files and images that are corrupt or
  decompression bombs; ``validate_attachment`` runs all three.
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
from collections.abc import Awaitable, Callable
from pathlib import PurePosixPath

import httpx
from PIL import Image

from .errors import InputError
from .types import Kind

MAX_IMAGE_PIXELS = 50_000_000
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
    claimed = f" (it says {claimed_mime})" if claimed_mime else ""
    raise InputError(f"{name} is not a file type hgbot can use{claimed}. Supported: {SUPPORTED}.")


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


def validate_attachment(filename: str, data: bytes, claimed_mime: str, max_bytes: int) -> tuple[Kind, str, str]:
    """Size check, then ``sniff``, then ``check_image`` for images; returns ``sniff``'s result."""
    check_size(data, max_bytes, filename)
    kind, mime, suffix = sniff(data, filename, claimed_mime)
    if kind == "image":
        try:
            check_image(data)
        except InputError as exc:
            raise InputError(f"{filename or 'The file'}: {exc}", hint=exc.hint) from exc
    return kind, mime, suffix


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
