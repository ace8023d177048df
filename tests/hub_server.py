"""An in-memory stand-in of the Hugging Face Hub HTTP API, for tests (stdlib only).

It answers what the real `huggingface_hub` client (2.x) sends for `create_repo`, `create_branch`,
`upload_folder`/`create_commit`, `model_info`, `list_repo_tree`, `get_paths_info`, `list_repo_commits`,
`list_repo_refs`, `hf_hub_download` and `snapshot_download`, when given `endpoint=server.url`.
Model repos only; every file is a regular git blob (never LFS nor Xet); any token, or none, is accepted.
Errors follow the Hub's conventions (status + `X-Error-Code` + `X-Error-Message`), so the client raises
its own exceptions (RepositoryNotFoundError, RevisionNotFoundError, RemoteEntryNotFoundError, ...).
"""

import base64
import hashlib
import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

COMMIT_SHA = re.compile(r"[0-9a-f]{40}")
# What the Hub puts in the initial commit of every new repo (shortened).
GITATTRIBUTES = b"*.bin filter=lfs diff=lfs merge=lfs -text\n*.safetensors filter=lfs diff=lfs merge=lfs -text\n"


def git_blob_oid(data: bytes) -> str:
    """The git blob sha1: what the Hub sends as ETag and tree `oid` of a non-LFS file."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class HubError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, headers: dict | None = None, **body):
        super().__init__(message)
        self.status, self.message, self.code, self.headers, self.body = status, message, code, headers or {}, body


@dataclass
class Blob:
    data: bytes
    oid: str  # normally git_blob_oid(data); corrupt_file() breaks that on purpose


@dataclass
class Commit:
    oid: str
    parent: str | None
    files: dict[str, Blob]  # the full tree at this commit
    title: str
    message: str
    date: str


@dataclass
class Repo:
    private: bool
    created: str
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)  # branch name -> commit oid


class HubServer:
    """Serve on 127.0.0.1 (a free port by default) from a daemon thread: `start()`, `stop()` or `with`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.repos: dict[str, Repo] = {}
        self.requests: list[tuple[str, str]] = []  # (method, decoded path without the query), in arrival order
        self._lock = threading.RLock()
        self._counter = itertools.count()
        self._httpd = ThreadingHTTPServer((host, port), _Handler)
        self._httpd.hub = self
        self.url = f"http://{host}:{self._httpd.server_port}"
        # A short poll interval: stop() waits for one poll.
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.01,), daemon=True)

    def start(self) -> "HubServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> "HubServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ---- direct access for tests (no HTTP, not recorded in `requests`) ----

    def create_repo(self, repo_id: str, private: bool = False) -> None:
        with self._lock:
            if repo_id in self.repos:
                raise HubError(409, "You already created this model repo")
            self.repos[repo_id] = Repo(private=private, created=_now())
            self.commit(repo_id, {".gitattributes": GITATTRIBUTES}, message="initial commit")

    def commit(self, repo_id: str, files: dict[str, bytes] | None = None, *, delete=(), revision: str = "main",
               message: str = "Update", description: str = "", parent: str | None = None) -> str:
        """Make a commit on branch `revision` (created if the repo has no commit yet); returns its oid.

        `delete` holds file paths, or folder paths ending in "/"."""
        with self._lock:
            repo = self._repo(repo_id)
            if revision not in repo.branches and repo.commits:
                raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
            head = repo.branches.get(revision)
            if parent is not None and parent != head:
                raise HubError(412, "A commit has happened since. Please refresh and try again.")
            tree = dict(repo.commits[head].files) if head else {}
            for path in delete:
                gone = [p for p in tree if p.startswith(path)] if path.endswith("/") else [p for p in tree if p == path]
                if not gone:
                    raise HubError(404, f"A file with this name doesn't exist: {path}", "EntryNotFound")
                for p in gone:
                    del tree[p]
            tree.update({path: Blob(data, git_blob_oid(data)) for path, data in (files or {}).items()})
            seed = f"{repo_id}\n{head}\n{next(self._counter)}\n{time.time_ns()}\n{message}"
            oid = hashlib.sha1(seed.encode()).hexdigest()
            repo.commits[oid] = Commit(oid, head, tree, message, description, _now())
            repo.branches[revision] = oid
            return oid

    def put_file(self, repo_id: str, path: str, data: bytes, revision: str = "main") -> str:
        """Commit one file (creating the repo if needed); returns the new commit oid."""
        with self._lock:
            if repo_id not in self.repos:
                self.create_repo(repo_id)
            return self.commit(repo_id, {path: data}, revision=revision, message=f"Upload {path}")

    def read_file(self, repo_id: str, path: str, revision: str = "main") -> bytes:
        with self._lock:
            return self._file(self._resolve(self._repo(repo_id), revision), path).data

    def head(self, repo_id: str, revision: str = "main") -> str:
        """The commit oid a branch (or commit sha) resolves to."""
        with self._lock:
            return self._resolve(self._repo(repo_id), revision).oid

    def corrupt_file(self, repo_id: str, path: str, data: bytes, revision: str = "main") -> None:
        """Swap a stored file's bytes in place, without a new commit: the Hub keeps advertising the old
        ETag/oid/size, so a client downloads bytes that do not match them (a corrupted blob store)."""
        with self._lock:
            commit = self._resolve(self._repo(repo_id), revision)
            commit.files[path] = Blob(data, self._file(commit, path).oid)

    # ---- lookups, raising the Hub's errors ----

    def _repo(self, repo_id: str) -> Repo:
        if repo_id not in self.repos:
            raise HubError(404, "Repository not found", "RepoNotFound")
        return self.repos[repo_id]

    def _resolve(self, repo: Repo, revision: str) -> Commit:
        oid = repo.branches.get(revision) or (revision if COMMIT_SHA.fullmatch(revision) else None)
        if oid not in repo.commits:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return repo.commits[oid]

    def _file(self, commit: Commit, path: str) -> Blob:
        if path not in commit.files:
            raise HubError(404, "Entry not found", "EntryNotFound", {"X-Repo-Commit": commit.oid})
        return commit.files[path]

    # ---- HTTP routes: `parts` are the percent-decoded path segments ----

    def route(self, method: str, parts: list[str], query: dict, body: bytes):
        """Return (status, payload, headers); payload is bytes or JSON-able."""
        with self._lock:
            if method == "POST" and parts == ["api", "repos", "create"]:
                return self._create_repo(json.loads(body))
            if method == "POST" and parts == ["api", "validate-yaml"]:
                return 200, {"errors": [], "warnings": []}, {}
            if parts[:2] == ["api", "models"] and len(parts) >= 4:
                repo_id, action, args = "/".join(parts[2:4]), parts[4:5], parts[5:]
                repo = self._repo(repo_id)
                if method == "GET" and action in ([], ["revision"]):
                    return 200, self._info(repo_id, repo, args[0] if args else "main", "blobs" in query), {}
                if method in ("POST", "DELETE") and action == ["branch"]:
                    return self._branch(repo, method, args[0], json.loads(body or b"{}"))
                if method == "GET" and action == ["refs"]:
                    branches = [{"name": b, "ref": f"refs/heads/{b}", "targetCommit": oid} for b, oid in repo.branches.items()]
                    return 200, {"branches": branches, "converts": [], "tags": [], "pullRequests": []}, {}
                if not args:
                    raise HubError(404, "Not found")
                if query.get("create_pr", ["0"])[0] not in ("0", "false"):
                    raise HubError(400, "Pull requests are not supported by this test Hub")
                commit = self._resolve(repo, args[0])
                if method == "GET" and action == ["tree"]:
                    recursive = query.get("recursive", ["false"])[0].lower() in ("1", "true")
                    return 200, self._tree(commit, "/".join(args[1:]), recursive), {}
                if method == "POST" and action == ["paths-info"]:
                    wanted = parse_qs(body.decode()).get("paths", [])
                    return 200, [e for e in self._tree(commit, "", True) if e["path"] in wanted], {}
                if method == "GET" and action == ["commits"]:
                    return 200, self._history(repo, commit), {}
                if method == "POST" and action == ["preupload"]:
                    files = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False,
                              "oid": commit.files[f["path"]].oid if f["path"] in commit.files else None}
                             for f in json.loads(body)["files"]]
                    return 200, {"files": files, "commitOid": commit.oid}, {}
                if method == "POST" and action == ["commit"]:
                    return self._commit_ndjson(repo_id, args[0], body)
            if method in ("GET", "HEAD") and len(parts) >= 5 and parts[2] == "resolve":
                commit = self._resolve(self._repo("/".join(parts[:2])), parts[3])
                return self._serve_file(commit, "/".join(parts[4:]), query.get("range"))
            raise HubError(404, "Not found")

    def _create_repo(self, payload: dict):
        if payload.get("type", "model") != "model":
            raise HubError(400, "Only model repos are supported by this test Hub")
        repo_id = f"{payload.get('organization') or 'user'}/{payload['name']}"
        url = f"{self.url}/{repo_id}"
        if repo_id in self.repos:  # create_repo(exist_ok=True) reads the url from this answer
            raise HubError(409, "You already created this model repo", url=url)
        private = payload.get("visibility", "private" if payload.get("private") else "public") == "private"
        self.create_repo(repo_id, private=private)
        return 200, {"url": url, "name": repo_id, "id": hashlib.sha1(repo_id.encode()).hexdigest()[:24]}, {}

    def _info(self, repo_id: str, repo: Repo, revision: str, blobs: bool) -> dict:
        commit = self._resolve(repo, revision)
        siblings = [{"rfilename": p, **({"size": len(b.data), "blobId": b.oid} if blobs else {})}
                    for p, b in sorted(commit.files.items())]
        return {"id": repo_id, "modelId": repo_id, "author": repo_id.split("/")[0], "sha": commit.oid,
                "lastModified": commit.date, "createdAt": repo.created, "private": repo.private, "disabled": False,
                "gated": False, "downloads": 0, "likes": 0, "tags": [], "siblings": siblings}

    def _branch(self, repo: Repo, method: str, branch: str, payload: dict):
        if method == "DELETE":
            if branch not in repo.branches:
                raise HubError(404, f"Invalid rev id: {branch}", "RevisionNotFound")
            del repo.branches[branch]
        elif branch in repo.branches:
            raise HubError(409, "Reference already exists")
        else:
            repo.branches[branch] = self._resolve(repo, payload.get("startingPoint") or "main").oid
        return 200, {}, {}

    def _tree(self, commit: Commit, path: str, recursive: bool) -> list[dict]:
        prefix = path.strip("/") + "/" if path.strip("/") else ""
        files = {p: b for p, b in sorted(commit.files.items()) if p.startswith(prefix)}
        if prefix and not files:
            raise HubError(404, f"{path} does not exist", "EntryNotFound")
        entries: dict[str, dict] = {}
        for p, blob in files.items():
            rel = p[len(prefix):].split("/")
            for depth in range(1, len(rel) if recursive else min(2, len(rel))):
                folder = prefix + "/".join(rel[:depth])
                # A directory's oid only has to change when its content does.
                oid = hashlib.sha1("".join(q + b.oid for q, b in files.items() if q.startswith(folder + "/")).encode())
                entries.setdefault(folder, {"type": "directory", "oid": oid.hexdigest(), "size": 0, "path": folder})
            if recursive or len(rel) == 1:
                entries[p] = {"type": "file", "oid": blob.oid, "size": len(blob.data), "path": p}
        return list(entries.values())

    def _history(self, repo: Repo, commit: Commit | None) -> list[dict]:
        history = []
        while commit is not None:
            history.append({"id": commit.oid, "title": commit.title, "message": commit.message,
                            "authors": [{"user": "user"}], "date": commit.date})
            commit = repo.commits.get(commit.parent)
        return history

    def _commit_ndjson(self, repo_id: str, revision: str, body: bytes):
        header, files, delete = {}, {}, []
        for item in map(json.loads, filter(bytes.strip, body.splitlines())):
            key, value = item["key"], item["value"]
            if key == "header":
                header = value
            elif key == "file":
                content = value["content"]
                files[value["path"]] = base64.b64decode(content) if value.get("encoding") == "base64" else content.encode()
            elif key == "deletedFile":
                delete.append(value["path"].rstrip("/"))
            elif key == "deletedFolder":
                delete.append(value["path"].rstrip("/") + "/")
            else:  # lfsFile: preupload never asks for LFS
                raise HubError(400, f"Unsupported commit operation: {key}")
        oid = self.commit(repo_id, files, delete=delete, revision=revision, message=header.get("summary", "Update"),
                          description=header.get("description", ""), parent=header.get("parentCommit"))
        return 200, {"success": True, "commitOid": oid, "commitUrl": f"{self.url}/{repo_id}/commit/{oid}",
                     "hookOutput": ""}, {}

    def _serve_file(self, commit: Commit, path: str, ranges: list | None):
        blob = self._file(commit, path)
        data, status = blob.data, 200
        headers = {"Content-Type": "application/octet-stream", "ETag": f'"{blob.oid}"', "X-Repo-Commit": commit.oid,
                   "Accept-Ranges": "bytes"}
        if ranges:  # the client only sends `Range: bytes=N-` (resuming an interrupted download)
            match = re.fullmatch(r"bytes=(\d+)-(\d*)", ranges[0])
            start = int(match[1]) if match else len(data)
            end = min(int(match[2]) if match and match[2] else len(data) - 1, len(data) - 1)
            if start > end:
                raise HubError(416, "Range not satisfiable", headers={"Content-Range": f"bytes */{len(data)}"})
            data, status = data[start:end + 1], 206
            headers["Content-Range"] = f"bytes {start}-{end}/{len(blob.data)}"
        return status, data, headers


class _Handler(BaseHTTPRequestHandler):
    def _handle(self, method: str) -> None:
        hub: HubServer = self.server.hub
        url = urlsplit(self.path)
        # Split before decoding: a revision like "refs%2Fpr%2F1" is one segment.
        parts = [unquote(p) for p in url.path.split("/")[1:]]
        query = parse_qs(url.query)
        if "Range" in self.headers:
            query["range"] = [self.headers["Range"]]
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        hub.requests.append((method, unquote(url.path)))
        try:
            status, payload, headers = hub.route(method, parts, query, body)
        except HubError as e:
            status, payload = e.status, {"error": e.message, **e.body}
            headers = {**e.headers, "X-Error-Message": e.message, **({"X-Error-Code": e.code} if e.code else {})}
        if not isinstance(payload, bytes):
            payload = json.dumps(payload).encode()
            headers.setdefault("Content-Type", "application/json")
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(payload)

    def do_GET(self):
        self._handle("GET")

    def do_HEAD(self):
        self._handle("HEAD")

    def do_POST(self):
        self._handle("POST")

    def do_DELETE(self):
        self._handle("DELETE")

    def log_message(self, *args):  # keep test output quiet
        pass
