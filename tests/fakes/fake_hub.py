"""A local stand-in for the Hugging Face hub, speaking the protocol huggingface_hub uses.

Point the client at it with ``HF_ENDPOINT=hub.endpoint``. It answers what ``HfApi.model_info``
(``/api/models/{repo}[/revision/{rev}]``, ``?blobs=True`` for sizes and LFS data),
``snapshot_download`` (the same call, then ``/api/models/{repo}/tree/{rev}?recursive=True``) and
``hf_hub_download`` (``HEAD``/``GET /{repo}/resolve/{rev}/{file}``) ask, with the headers the client
reads (``huggingface_hub/file_download.py:get_hf_file_metadata``):

- a regular file: ``200`` with ``ETag`` (its git blob id), ``X-Repo-Commit`` and ``Content-Length``;
- an LFS file (weights): ``302`` to a second origin (the hub's CDN) with ``X-Linked-Etag`` (its
  sha256), ``X-Linked-Size`` and ``X-Repo-Commit``. The client follows a redirect only within one
  origin, so the CDN must be another one: a second server on 127.0.0.1 at another free port;
- errors as ``404`` with the ``X-Error-Code`` the client maps to its exceptions.

Both servers listen on 127.0.0.1 only. Every request is recorded (method, path) so a test can
assert what was asked for: the revision, or that a second pull fetched nothing.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from urllib.parse import parse_qs, unquote, urlparse

LFS_SUFFIXES = (".safetensors", ".bin", ".pth", ".pt", ".onnx", ".gguf")


@dataclass
class Blob:
    data: bytes
    claimed_size: int  # what the API says; a test may claim more than it serves (a model too big for the disk)

    @property
    def git_oid(self) -> str:
        return hashlib.sha1(b"blob %d\0" % len(self.data) + self.data).hexdigest()

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass
class Repo:
    files: dict[str, Blob]
    commit: str
    branches: dict[str, str] = field(default_factory=dict)

    def resolve(self, revision: str) -> str | None:
        """The commit a revision names (a branch or the commit itself), or None."""
        if revision == self.commit:
            return self.commit
        return self.branches.get(revision)


def is_lfs(name: str) -> bool:
    return name.endswith(LFS_SUFFIXES)


class FakeHub:
    """``with FakeHub() as hub: hub.add_repo("org/name", {...}); os.environ["HF_ENDPOINT"] = hub.endpoint``."""

    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._hub = self._server(cdn=False)
        self._cdn = self._server(cdn=True)
        self._threads: list[threading.Thread] = []

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._hub.server_address[1]}"

    @property
    def cdn(self) -> str:
        return f"http://127.0.0.1:{self._cdn.server_address[1]}"

    def add_repo(self, repo_id: str, files: dict[str, bytes], *, claimed_sizes: dict[str, int] | None = None,
                 branch: str = "main") -> str:
        """Publish ``files`` as one commit of ``repo_id`` on ``branch``; returns the commit id."""
        claimed = claimed_sizes or {}
        blobs = {name: Blob(data, claimed.get(name, len(data))) for name, data in files.items()}
        digest = hashlib.sha1(repo_id.encode())
        for name in sorted(blobs):
            digest.update(name.encode() + b"\0" + blobs[name].git_oid.encode())
        commit = digest.hexdigest()
        self.repos[repo_id] = Repo(blobs, commit, {branch: commit})
        return commit

    def add_dir(self, repo_id: str, directory: Path, **kwargs: object) -> str:
        """Publish every file under ``directory`` (e.g. a tiny twin saved with ``save_pretrained``)."""
        files = {p.relative_to(directory).as_posix(): p.read_bytes()
                 for p in sorted(directory.rglob("*")) if p.is_file()}
        return self.add_repo(repo_id, files, **kwargs)  # type: ignore[arg-type]

    def gets(self, marker: str = "") -> list[str]:
        """Paths of the file contents served (GETs of /resolve/ or of the CDN) containing ``marker``."""
        with self._lock:
            return [p for m, p in self.requests if m == "GET" and ("/resolve/" in p or p.startswith("/cdn/"))
                    and marker in p]

    # -- serving ---------------------------------------------------------------------------------

    def _server(self, *, cdn: bool) -> ThreadingHTTPServer:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # keep test output clean
                pass

            def do_HEAD(self) -> None:
                hub._handle(self, cdn=cdn, body=False)

            def do_GET(self) -> None:
                hub._handle(self, cdn=cdn, body=True)

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        return server

    def start(self) -> FakeHub:
        for server in (self._hub, self._cdn):
            thread = threading.Thread(target=server.serve_forever, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        for server in (self._hub, self._cdn):
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _handle(self, req: BaseHTTPRequestHandler, *, cdn: bool, body: bool) -> None:
        url = urlparse(req.path)
        path = unquote(url.path)
        with self._lock:
            self.requests.append((req.command, ("/cdn" if cdn else "") + path))
        if cdn:
            self._serve_cdn(req, path, body)
        elif path.startswith("/api/models/"):
            self._serve_api(req, path.removeprefix("/api/models/"), parse_qs(url.query), body)
        elif "/resolve/" in path:
            self._serve_resolve(req, path.lstrip("/"), body)
        else:
            self._error(req, 404, "RepoNotFound", f"no route {path}", body)

    def _serve_api(self, req: BaseHTTPRequestHandler, rest: str, query: dict[str, list[str]], body: bool) -> None:
        parts = rest.split("/")
        repo_id, tail = "/".join(parts[:2]), parts[2:]
        repo = self.repos.get(repo_id)
        if repo is None:
            return self._error(req, 404, "RepoNotFound", f"Repository {repo_id} not found", body)
        revision = tail[1] if len(tail) >= 2 and tail[0] in ("revision", "tree") else "main"
        commit = repo.resolve(revision)
        if commit is None:
            return self._error(req, 404, "RevisionNotFound", f"Invalid rev id: {revision}", body)
        if tail and tail[0] == "tree":
            prefix = "/".join(tail[2:])
            entries = [self._tree_entry(name, blob) for name, blob in sorted(repo.files.items())
                       if name.startswith(prefix)]
            return self._json(req, entries, body)
        blobs = query.get("blobs", ["false"])[0].lower() == "true"
        siblings = []
        for name, blob in sorted(repo.files.items()):
            sibling: dict[str, object] = {"rfilename": name}
            if blobs:
                sibling.update(size=blob.claimed_size, blobId=blob.git_oid)
                if is_lfs(name):
                    sibling["lfs"] = {"size": blob.claimed_size, "sha256": blob.sha256, "pointerSize": 134}
            siblings.append(sibling)
        info = {"id": repo_id, "modelId": repo_id, "sha": commit, "private": False, "gated": False,
                "disabled": False, "tags": [], "siblings": siblings}
        self._json(req, info, body)

    @staticmethod
    def _tree_entry(name: str, blob: Blob) -> dict[str, object]:
        entry: dict[str, object] = {"type": "file", "path": name, "size": len(blob.data), "oid": blob.git_oid}
        if is_lfs(name):
            entry["lfs"] = {"oid": blob.sha256, "size": len(blob.data), "pointerSize": 134}
        return entry

    def _serve_resolve(self, req: BaseHTTPRequestHandler, path: str, body: bool) -> None:
        repo_part, _, rest = path.partition("/resolve/")
        revision, _, filename = rest.partition("/")
        repo = self.repos.get(repo_part)
        if repo is None:
            return self._error(req, 404, "RepoNotFound", f"Repository {repo_part} not found", body)
        commit = repo.resolve(revision)
        if commit is None:
            return self._error(req, 404, "RevisionNotFound", f"Invalid rev id: {revision}", body)
        blob = repo.files.get(filename)
        if blob is None:
            return self._error(req, 404, "EntryNotFound", f"{filename} not found", body)
        if is_lfs(filename):
            # like the hub: the metadata on the redirect, the bytes from the CDN
            req.send_response(302)
            req.send_header("Location", f"{self.cdn}/blobs/{blob.sha256}")
            req.send_header("X-Repo-Commit", commit)
            req.send_header("ETag", f'"{blob.git_oid}"')
            req.send_header("X-Linked-Etag", f'"{blob.sha256}"')
            req.send_header("X-Linked-Size", str(len(blob.data)))
            req.send_header("Content-Length", "0")
            req.end_headers()
            return None
        self._bytes(req, blob.data, body, {"ETag": f'"{blob.git_oid}"', "X-Repo-Commit": commit})
        return None

    def _serve_cdn(self, req: BaseHTTPRequestHandler, path: str, body: bool) -> None:
        sha = path.removeprefix("/blobs/")
        for repo in self.repos.values():
            for blob in repo.files.values():
                if blob.sha256 == sha:
                    return self._bytes(req, blob.data, body, {"ETag": f'"{sha}"'})
        return self._error(req, 404, "EntryNotFound", "no such blob", body)

    @staticmethod
    def _bytes(req: BaseHTTPRequestHandler, data: bytes, body: bool, headers: dict[str, str]) -> None:
        start = 0
        ranged = req.headers.get("Range", "")
        if ranged.startswith("bytes=") and ranged.endswith("-"):  # a resumed download
            start = int(ranged[6:-1] or 0)
        req.send_response(206 if start else 200)
        for key, value in headers.items():
            req.send_header(key, value)
        req.send_header("Content-Length", str(len(data) - start))
        req.send_header("Content-Type", "application/octet-stream")
        req.end_headers()
        if body:
            req.wfile.write(data[start:])

    def _json(self, req: BaseHTTPRequestHandler, payload: object, body: bool) -> None:
        data = json.dumps(payload).encode()
        req.send_response(200)
        req.send_header("Content-Type", "application/json")
        req.send_header("Content-Length", str(len(data)))
        req.end_headers()
        if body:
            req.wfile.write(data)

    @staticmethod
    def _error(req: BaseHTTPRequestHandler, status: int, code: str, message: str, body: bool) -> None:
        data = json.dumps({"error": message}).encode()
        req.send_response(status)
        req.send_header("X-Error-Code", code)
        req.send_header("X-Error-Message", message)
        req.send_header("Content-Type", "application/json")
        req.send_header("Content-Length", str(len(data)))
        req.end_headers()
        if body:
            req.wfile.write(data)
