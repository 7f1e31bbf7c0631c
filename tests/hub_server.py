"""A local stand-in for the Hugging Face Hub, so that huggingface_hub's real client code can be tested offline.

It implements the part of the Hub API that ``huggingface_hub`` 2.x calls to push and to download a model repo:

- ``POST /api/repos/create`` (``HfApi.create_repo``)
- ``POST /api/validate-yaml`` (``create_commit`` checks README.md metadata before uploading)
- ``POST /api/models/{repo}/preupload/{rev}`` (regular vs LFS upload mode per file)
- ``POST /{repo}.git/info/lfs/objects/batch``, ``PUT /lfs-upload/{oid}``, ``POST /api/lfs-verify`` (LFS basic
  transfer; used for weights and images, as on the real Hub)
- ``POST /api/models/{repo}/commit/{rev}`` (NDJSON: header, inline base64 files, LFS pointers, deletions)
- ``GET /api/models/{repo}[/revision/{rev}]``, ``GET /api/models/{repo}/tree/{rev}``,
  ``HEAD``/``GET /{repo}/resolve/{rev}/{path}`` (``snapshot_download``)
- the same routes for Space and dataset repos (``/api/spaces/...``, ``/api/datasets/...``, ``/spaces/{repo}/resolve``,
  ``/datasets/{repo}/resolve``); such repos are kept under the keys ``spaces/{repo}`` and ``datasets/{repo}``
  (:meth:`LocalHub.key`), model repos under their id as before. :meth:`LocalHub.add_repo` seeds a repo with files
  (e.g. a Parquet dataset), ``gated=True`` making it answer 401 ``GatedRepo`` to requests without a token.

With ``lfs=True`` (the default) binary files take the LFS route, as on the Hub; huggingface_hub then uploads them
through Xet when ``hf_xet`` is installed, which this server does not speak, so tests set
``huggingface_hub.constants.HF_HUB_DISABLE_XET = True`` (read at call time). With ``lfs=False`` every file is
"regular" (inline base64 in the commit).

Auth works like the Hub: a ``Bearer`` token maps to a user and a role; an unknown token gets 401, a read token or a
foreign namespace 403, a private repo is invisible (404) to others. :meth:`LocalHub.fail` forces the next matching
responses to a status (429, 503, ...). Files are stored on disk: content-addressed blobs plus the latest tree of
each repo, materialised under :meth:`LocalHub.repo_dir` (loadable with ``transformers.pipeline``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import uvicorn
import yaml
from huggingface_hub import ModelCardData, constants
from huggingface_hub.repocard import REGEX_YAML_BLOCK
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

LFS_PATTERNS = re.compile(r"\.(safetensors|bin|pt|pth|h5|onnx|msgpack|png|jpg|jpeg|zip|gz|tar|parquet)$")
LFS_THRESHOLD = 10 * 1024 * 1024  # bytes; larger files go through LFS, like on the Hub
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")
PIPELINE_TAGS = {"text-classification", "token-classification", "question-answering", "fill-mask", "feature-extraction"}


def _not_found(message: str, code: str) -> JSONResponse:
    """A 404 with the Hub's ``X-Error-Code`` header, which huggingface_hub turns into a specific exception."""
    return JSONResponse({"error": message}, status_code=404, headers={"X-Error-Code": code})


def git_blob_oid(content: bytes) -> str:
    """The git object id of a blob (what the Hub reports as a regular file's ``oid``)."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


@dataclass
class Entry:
    """A file in a commit's tree."""

    sha256: str
    size: int
    lfs: bool
    git_oid: str


@dataclass
class Repo:
    repo_id: str
    private: bool
    kind: str = "model"
    gated: bool = False
    sdk: str | None = None
    commits: list[tuple[str, dict[str, Entry], str]] = field(default_factory=list)  # (oid, tree, summary)

    def tree(self, revision: str) -> tuple[str, dict[str, Entry]] | None:
        if revision in ("main", "refs/heads/main"):
            return (self.commits[-1][0], self.commits[-1][1]) if self.commits else None
        for oid, tree, _ in self.commits:
            if oid == revision:
                return oid, tree
        return None


class LocalHub:
    """A Hub API server on 127.0.0.1, run in a background thread.

    Args:
        root: Folder for blobs and materialised repos.
        tokens: ``{token: (username, role)}`` with role ``"write"`` or ``"read"``.
        orgs: ``{org: [member usernames]}``; members can write to the org's namespace.
        lfs: Send binary and large files through the LFS batch API (else inline, as "regular" files).
    """

    def __init__(
        self, root: Path, tokens: dict[str, tuple[str, str]], orgs: dict[str, list[str]] | None = None, lfs: bool = True
    ):
        self.root = Path(root)
        self.lfs = lfs
        (self.root / "blobs").mkdir(parents=True, exist_ok=True)
        self.tokens = dict(tokens)
        self.orgs = dict(orgs or {})
        self.repos: dict[str, Repo] = {}
        self.log: list[dict] = []  # method, path, route, status of every request
        self.response_bodies: list[bytes] = []
        self._failures: list[dict] = []
        self._lfs_signatures: dict[str, str] = {}
        self._lock = threading.Lock()
        self.url = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ control
    def start(self) -> str:
        """Start serving on a free port; returns the base URL (use it as ``HF_ENDPOINT``)."""
        routes = [
            Route("/api/repos/create", self._wrap("create", self.create_repo), methods=["POST"]),
            Route("/api/validate-yaml", self._wrap("validate", self.validate_yaml), methods=["POST"]),
            Route("/api/lfs-verify", self._wrap("lfs", self.lfs_verify), methods=["POST"]),
            Route("/lfs-upload/{oid}", self._wrap("lfs", self.lfs_upload), methods=["PUT"]),
        ]
        for api, web in (("spaces", "spaces/"), ("datasets", "datasets/"), ("models", "")):
            routes += [
                Route(f"/api/{api}/{{ns}}/{{name}}/preupload/{{rev:path}}", self._wrap("preupload", self.preupload),
                      methods=["POST"]),
                Route(f"/api/{api}/{{ns}}/{{name}}/commit/{{rev:path}}", self._wrap("commit", self.commit),
                      methods=["POST"]),
                Route(f"/api/{api}/{{ns}}/{{name}}/tree/{{rev:path}}", self._wrap("tree", self.tree), methods=["GET"]),
                Route(f"/api/{api}/{{ns}}/{{name}}/revision/{{rev:path}}", self._wrap("info", self.model_info),
                      methods=["GET"]),
                Route(f"/api/{api}/{{ns}}/{{name}}", self._wrap("info", self.model_info), methods=["GET"]),
                Route(f"/{web}{{ns}}/{{name}}.git/info/lfs/objects/batch", self._wrap("lfs", self.lfs_batch),
                      methods=["POST"]),
                Route(f"/{web}{{ns}}/{{name}}/resolve/{{rev}}/{{path:path}}", self._wrap("resolve", self.resolve),
                      methods=["GET", "HEAD"]),
            ]
        config = uvicorn.Config(Starlette(routes=routes), host="127.0.0.1", port=0, log_level="info", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="local-hub", daemon=True)
        self._thread.start()
        deadline = time.time() + 20
        while not self._server.started:
            if time.time() > deadline or not self._thread.is_alive():
                raise RuntimeError("the local Hub server did not start")
            time.sleep(0.02)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    def stop(self) -> None:
        """Stop serving (a later push then meets a refused connection, like a machine without network)."""
        if self._server is not None:
            self._server.should_exit = True
            self._thread.join(10)
            self._server = None

    def fail(self, status: int, route: str = "*", times: int = 1, error: str | None = None) -> None:
        """Answer the next ``times`` requests of ``route`` (``"create"``, ``"commit"``, ``"*"``...) with ``status``."""
        self._failures.append({"status": status, "route": route, "times": times, "error": error})

    def routes_called(self) -> list[str]:
        return [entry["route"] for entry in self.log]

    @staticmethod
    def key(repo_id: str, kind: str = "model") -> str:
        """Key of a repo in :attr:`repos`: the id for a model, ``spaces/{id}`` or ``datasets/{id}`` otherwise."""
        return repo_id if kind == "model" else f"{kind}s/{repo_id}"

    def add_repo(self, repo_id: str, files: dict[str, bytes], *, kind: str = "model", private: bool = False,
                 gated: bool = False, summary: str = "Initial commit") -> str:
        """Create a repo with one commit of ``files`` (``{path: bytes}``) directly, as if pushed; returns its key."""
        key = self.key(repo_id, kind)
        repo = Repo(repo_id, private=private, kind=kind, gated=gated)
        tree = {}
        for path, content in files.items():
            lfs = self.lfs and bool(LFS_PATTERNS.search(path))
            sha = self._store(content)
            tree[path] = Entry(sha, len(content), lfs, git_blob_oid(lfs_pointer(sha, len(content)) if lfs else content))
        oid = hashlib.sha1(json.dumps([key, summary, sorted((p, e.sha256) for p, e in tree.items())]).encode()).hexdigest()
        repo.commits.append((oid, tree, summary))
        self.repos[key] = repo
        return key

    def repo_dir(self, repo_id: str) -> Path:
        """Folder holding the latest tree of ``repo_id`` (written on each commit)."""
        return self.root / "repos" / repo_id

    def files(self, repo_id: str) -> dict[str, bytes]:
        """``{path: bytes}`` of the latest commit of ``repo_id`` (a key of :meth:`key` for Spaces and datasets)."""
        _, tree = self.repos[repo_id].tree("main")
        return {path: self._blob(entry.sha256) for path, entry in tree.items()}

    # ------------------------------------------------------------------ plumbing
    def _wrap(self, route: str, handler):
        async def endpoint(request: Request) -> Response:
            response = None
            with self._lock:
                for failure in self._failures:
                    if failure["times"] > 0 and failure["route"] in ("*", route):
                        failure["times"] -= 1
                        message = failure["error"] or f"Forced {failure['status']} by the test"
                        response = JSONResponse({"error": message}, status_code=failure["status"])
                        break
            if response is None:
                response = await handler(request)
            self.log.append({"method": request.method, "path": request.url.path, "route": route,
                             "status": response.status_code})
            self.response_bodies.append(bytes(response.body) if hasattr(response, "body") else b"")
            return response

        return endpoint

    @staticmethod
    def _key_of(request: Request) -> str:
        """The :meth:`key` of the repo a request's URL names."""
        repo_id = f"{request.path_params['ns']}/{request.path_params['name']}"
        path = request.url.path
        for kind in ("space", "dataset"):
            if path.startswith((f"/api/{kind}s/", f"/{kind}s/")):
                return f"{kind}s/{repo_id}"
        return repo_id

    def _user(self, request: Request) -> tuple[str | None, str | None, Response | None]:
        """``(username, role, error_response)`` from the Authorization header."""
        header = request.headers.get("authorization", "")
        if not header:
            return None, None, None
        token = header.removeprefix("Bearer ").strip()
        if token not in self.tokens:
            return None, None, JSONResponse({"error": "Invalid credentials in Authorization header"}, status_code=401)
        user, role = self.tokens[token]
        return user, role, None

    def _can_write(self, user: str | None, role: str | None, namespace: str) -> bool:
        return role == "write" and (namespace == user or user in self.orgs.get(namespace, []))

    def _readable(self, request: Request, repo_id: str) -> tuple[Repo | None, Response | None]:
        user, _, error = self._user(request)
        if error is not None:
            return None, error
        repo = self.repos.get(repo_id)
        namespace = repo_id.split("/")[-2]
        if repo is not None and repo.gated and user is None:
            return None, JSONResponse({"error": f"Access to {repo.kind} {repo.repo_id} is restricted. You must have "
                                                "access to it and be authenticated to access it. Please log in."},
                                      status_code=401, headers={"X-Error-Code": "GatedRepo"})
        if repo is None or (repo.private and user != namespace and user not in self.orgs.get(namespace, [])):
            return None, JSONResponse({"error": "Repository not found"}, status_code=404,
                                      headers={"X-Error-Code": "RepoNotFound"})
        return repo, None

    def _writable(self, request: Request, repo_id: str) -> tuple[Repo | None, Response | None]:
        user, role, error = self._user(request)
        if error is not None:
            return None, error
        if user is None:
            return None, JSONResponse({"error": "You must be authenticated to write"}, status_code=401)
        repo, missing = self._readable(request, repo_id)
        if missing is not None:
            return None, missing
        if not self._can_write(user, role, repo_id.split("/")[-2]):
            return None, JSONResponse({"error": f"You don't have the rights to write to {repo_id}"}, status_code=403)
        return repo, None

    def _blob(self, sha256: str) -> bytes:
        return (self.root / "blobs" / sha256).read_bytes()

    def _store(self, content: bytes) -> str:
        sha = hashlib.sha256(content).hexdigest()
        (self.root / "blobs" / sha).write_bytes(content)
        return sha

    # ------------------------------------------------------------------ endpoints
    async def create_repo(self, request: Request) -> Response:
        user, role, error = self._user(request)
        if error is not None:
            return error
        if user is None:
            return JSONResponse({"error": "You must be authenticated to create a repo"}, status_code=401)
        body = await request.json()
        kind = body.get("type") or "model"
        if kind not in ("model", "space", "dataset"):
            return JSONResponse({"error": f"Unknown repo type {kind!r}"}, status_code=400)
        if kind == "space" and body.get("sdk") not in ("gradio", "streamlit", "docker", "static"):
            return JSONResponse({"error": "A Space needs an sdk (gradio, streamlit, docker or static)"},
                                status_code=400)
        name, namespace = body.get("name", ""), body.get("organization") or user
        if not NAME.match(name) or ".." in name or "--" in name:
            return JSONResponse({"error": f"Invalid repo name {name!r}"}, status_code=400)
        repo_id = f"{namespace}/{name}"
        key = self.key(repo_id, kind)
        if not self._can_write(user, role, namespace):
            return JSONResponse({"error": f"You don't have the rights to create a model under the namespace "
                                          f"\"{namespace}\""}, status_code=403)
        web = "" if kind == "model" else f"{kind}s/"
        if key in self.repos:
            return JSONResponse({"error": f"You already created this {kind} repo",
                                 "url": f"{self.url}/{web}{repo_id}"}, status_code=409)
        private = body.get("visibility", "public") == "private" or bool(body.get("private"))
        self.repos[key] = Repo(repo_id, private=private, kind=kind, sdk=body.get("sdk"))
        return JSONResponse({"url": f"{self.url}/{web}{repo_id}", "name": repo_id, "id": secrets.token_hex(12)})

    async def validate_yaml(self, request: Request) -> Response:
        body = await request.json()
        match = REGEX_YAML_BLOCK.search(body.get("content", ""))
        errors = []
        if match is None:
            return JSONResponse({"errors": [], "warnings": [{"message": "empty or missing yaml metadata"}]})
        try:
            meta = yaml.safe_load(match.group(2))
            if not isinstance(meta, dict):
                raise TypeError("metadata is not a mapping")
            ModelCardData(**meta, ignore_metadata_errors=False)
        except Exception as exc:  # noqa: BLE001 - reported like the Hub does
            errors.append({"message": f"{type(exc).__name__}: {exc}"})
            meta = {}
        if "pipeline_tag" in meta and meta["pipeline_tag"] not in PIPELINE_TAGS:
            errors.append({"message": f"\"pipeline_tag\" must be a known task, got {meta['pipeline_tag']!r}"})
        if "license" in meta and not re.fullmatch(r"[a-z0-9][a-z0-9.\-]*", str(meta["license"])):
            errors.append({"message": f"\"license\" must be a license identifier, got {meta['license']!r}"})
        return JSONResponse({"errors": errors, "warnings": []}, status_code=400 if errors else 200)

    async def preupload(self, request: Request) -> Response:
        repo_id = self._key_of(request)
        _, error = self._writable(request, repo_id)
        if error is not None:
            return error
        files = (await request.json())["files"]
        out = []
        for f in files:
            sample = base64.b64decode(f["sample"])
            lfs = self.lfs and (f["size"] >= LFS_THRESHOLD or bool(LFS_PATTERNS.search(f["path"])) or b"\0" in sample)
            mode = "lfs" if lfs else "regular"
            out.append({"path": f["path"], "uploadMode": mode, "shouldIgnore": False, "oid": None})
        return JSONResponse({"files": out, "commitOid": None})

    async def lfs_batch(self, request: Request) -> Response:
        repo_id = self._key_of(request)
        _, error = self._writable(request, repo_id)
        if error is not None:
            return error
        body = await request.json()
        objects = []
        for obj in body["objects"]:
            if (self.root / "blobs" / obj["oid"]).exists():
                objects.append({"oid": obj["oid"], "size": obj["size"]})  # already stored: no upload needed
                continue
            signature = secrets.token_hex(8)
            self._lfs_signatures[obj["oid"]] = signature
            objects.append({
                "oid": obj["oid"], "size": obj["size"], "authenticated": True,
                "actions": {
                    "upload": {"href": f"{self.url}/lfs-upload/{obj['oid']}?sig={signature}"},
                    "verify": {"href": f"{self.url}/api/lfs-verify"},
                },
            })
        return JSONResponse({"transfer": "basic", "objects": objects, "hash_algo": "sha256"},
                            media_type="application/vnd.git-lfs+json")

    async def lfs_upload(self, request: Request) -> Response:
        oid = request.path_params["oid"]
        if self._lfs_signatures.get(oid) != request.query_params.get("sig"):
            return JSONResponse({"error": "Invalid or expired upload URL"}, status_code=403)
        content = await request.body()
        if hashlib.sha256(content).hexdigest() != oid:
            return JSONResponse({"error": "Uploaded content does not match its sha256"}, status_code=400)
        self._store(content)
        return Response(status_code=200)

    async def lfs_verify(self, request: Request) -> Response:
        body = await request.json()
        path = self.root / "blobs" / body["oid"]
        if not path.exists() or path.stat().st_size != body["size"]:
            return JSONResponse({"error": "Object not found or of the wrong size"}, status_code=404)
        return JSONResponse({"ok": True})

    async def commit(self, request: Request) -> Response:
        repo_id = self._key_of(request)
        repo, error = self._writable(request, repo_id)
        if error is not None:
            return error
        lines = [json.loads(line) for line in (await request.body()).splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            return JSONResponse({"error": "The first NDJSON line must be the commit header"}, status_code=400)
        summary = lines[0]["value"]["summary"]
        tree = dict(repo.commits[-1][1]) if repo.commits else {}
        for item in lines[1:]:
            key, value = item["key"], item["value"]
            if key == "file":
                content = base64.b64decode(value["content"])
                tree[value["path"]] = Entry(self._store(content), len(content), False, git_blob_oid(content))
            elif key == "lfsFile":
                if not (self.root / "blobs" / value["oid"]).exists():
                    return JSONResponse({"error": f"LFS object {value['oid']} was not uploaded"}, status_code=422)
                pointer = lfs_pointer(value["oid"], value["size"])
                tree[value["path"]] = Entry(value["oid"], value["size"], True, git_blob_oid(pointer))
            elif key == "deletedFile":
                tree.pop(value["path"], None)
            elif key == "deletedFolder":
                tree = {p: e for p, e in tree.items() if not p.startswith(value["path"].rstrip("/") + "/")}
            else:
                return JSONResponse({"error": f"Unknown commit operation {key!r}"}, status_code=400)
        parent = repo.commits[-1][0] if repo.commits else ""
        digest = json.dumps([parent, summary, sorted((p, e.sha256) for p, e in tree.items())]).encode()
        oid = hashlib.sha1(digest).hexdigest()
        repo.commits.append((oid, tree, summary))
        folder = self.repo_dir(repo_id)
        if folder.exists():
            for old in sorted(folder.rglob("*"), reverse=True):
                old.unlink() if old.is_file() else old.rmdir()
        for path, entry in tree.items():
            (folder / path).parent.mkdir(parents=True, exist_ok=True)
            (folder / path).write_bytes(self._blob(entry.sha256))
        web = "" if repo.kind == "model" else f"{repo.kind}s/"
        return JSONResponse({"success": True, "commitOid": oid,
                             "commitUrl": f"{self.url}/{web}{repo.repo_id}/commit/{oid}",
                             "commitMessage": summary, "pullRequestUrl": None})

    def _read_tree(self, request: Request, revision: str) -> tuple[str, dict[str, Entry], Repo] | Response:
        """``(commit, tree, repo)`` of the readable repo in the URL at ``revision``, or the error response."""
        repo_id = self._key_of(request)
        repo, error = self._readable(request, repo_id)
        if error is not None:
            return error
        found = repo.tree(revision)
        return _not_found("Invalid rev id", "RevisionNotFound") if found is None else (*found, repo)

    async def model_info(self, request: Request) -> Response:
        found = self._read_tree(request, request.path_params.get("rev", "main"))
        if isinstance(found, Response):
            return found
        oid, tree, repo = found
        info = {
            "id": repo.repo_id, "author": repo.repo_id.split("/")[0], "sha": oid, "private": repo.private,
            "tags": [], "siblings": [{"rfilename": path} for path in sorted(tree)],
        }
        if repo.kind == "model":
            info.update({"library_name": "transformers", "pipeline_tag": "text-classification"})
        elif repo.kind == "space":
            info.update({"sdk": repo.sdk, "runtime": {"stage": "BUILDING"}})
        else:
            info.update({"gated": "auto" if repo.gated else False, "disabled": False, "downloads": 0})
        return JSONResponse(info)

    async def tree(self, request: Request) -> Response:
        revision, _, folder = request.path_params["rev"].partition("/")  # revisions here never contain "/"
        found = self._read_tree(request, revision)
        if isinstance(found, Response):
            return found
        prefix = folder.strip("/") + "/" if folder else ""
        entries = []
        for path, e in sorted(found[1].items()):
            if path.startswith(prefix):
                entry = {"type": "file", "oid": e.git_oid, "size": e.size, "path": path}
                if e.lfs:
                    entry["lfs"] = {"oid": e.sha256, "size": e.size, "pointerSize": len(lfs_pointer(e.sha256, e.size))}
                entries.append(entry)
        if prefix and not entries:
            return _not_found(f"{folder} does not exist", "EntryNotFound")
        return JSONResponse(entries)

    async def resolve(self, request: Request) -> Response:
        found = self._read_tree(request, request.path_params["rev"])
        if isinstance(found, Response):
            return found
        oid, tree, _ = found
        entry = tree.get(request.path_params["path"])
        if entry is None:
            return _not_found("Entry not found", "EntryNotFound")
        headers = {"X-Repo-Commit": oid, "ETag": f'"{entry.git_oid}"', "Content-Length": str(entry.size)}
        if entry.lfs:
            headers.update({"X-Linked-Etag": f'"{entry.sha256}"', "X-Linked-Size": str(entry.size)})
        body = b"" if request.method == "HEAD" else self._blob(entry.sha256)
        return Response(body, headers=headers, media_type="application/octet-stream")


# ---------------------------------------------------------------------------------------------------- fixtures
WRITE_TOKEN = "hf_alice_write_5Yq8Lw2NcP"  # alice, write access (also a member of kdemo-org)
READ_TOKEN = "hf_alice_read_3Rt6Vb9XkM"  # alice, read-only
BOB_TOKEN = "hf_bob_write_7Hn4Jd1ZsQ"  # bob, write access to his own namespace only
TOKENS = {WRITE_TOKEN: ("alice", "write"), READ_TOKEN: ("alice", "read"), BOB_TOKEN: ("bob", "write")}
CLOSED_PORT = "http://127.0.0.1:9"  # the discard port: nothing listens, connections are refused at once


def isolate_hf_client(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Point huggingface_hub at test-only state: no Xet (this server speaks LFS), a fresh cache, no saved login."""
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-saved-token"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "SYSTEM", "SPACE_ID"):
        monkeypatch.delenv(name, raising=False)


def running_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalHub]:
    """Body of a ``local_hub`` fixture: a running :class:`LocalHub` (alice, bob, org kdemo-org) as ``HF_ENDPOINT``.

    Test modules wrap it: ``@pytest.fixture`` ``def local_hub(tmp_path, monkeypatch): yield from running_hub(...)``.
    """
    isolate_hf_client(monkeypatch, tmp_path)
    hub = LocalHub(tmp_path / "hub", TOKENS, orgs={"kdemo-org": ["alice"]})
    monkeypatch.setenv("HF_ENDPOINT", hub.start())
    try:
        yield hub
    finally:
        hub.stop()
