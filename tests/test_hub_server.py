"""The local Hub stand-in (tests/hub_server.py) against the real huggingface_hub client."""

import urllib.request
from pathlib import Path

import pytest
from huggingface_hub import HfApi, hf_hub_download, snapshot_download
from huggingface_hub.errors import HfHubHTTPError, RemoteEntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError

from tests.hub_server import git_blob_oid

REPO = "org/tiny"
WEIGHTS = bytes(range(256)) * 4 + b"\x00\xff"


def make_folder(root: Path, weights: bytes = WEIGHTS) -> Path:
    (root / "samples").mkdir(parents=True)
    (root / "config.yaml").write_text("format_version: 1\narchitecture: tiny\n")
    (root / "model.safetensors").write_bytes(weights)
    (root / "samples" / "manifest.json").write_text('{"samples": []}\n')
    return root


def files_in(root) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in Path(root).rglob("*") if p.is_file()}


@pytest.fixture
def api(hub):
    return HfApi(endpoint=hub.url, token="hf_any_token_is_fine")


def test_upload_folder_then_snapshot_download_gives_the_same_bytes(hub, api, tmp_path):
    url = api.create_repo(REPO)
    assert (url.repo_id, url.endpoint) == (REPO, hub.url)
    api.create_repo(REPO, exist_ok=True)
    with pytest.raises(HfHubHTTPError) as error:
        api.create_repo(REPO)
    assert error.value.response.status_code == 409

    folder = make_folder(tmp_path / "model")
    commit = api.upload_folder(repo_id=REPO, folder_path=folder, commit_message="v1")
    assert commit.oid == hub.head(REPO)

    local = snapshot_download(REPO, endpoint=hub.url, cache_dir=tmp_path / "cache")
    assert Path(local).name == commit.oid
    # The Hub puts a .gitattributes in every new repo.
    assert files_in(local) == {**files_in(folder), ".gitattributes": hub.read_file(REPO, ".gitattributes")}
    # The cache names blobs after the ETag: the git blob sha1 of a regular file.
    assert (tmp_path / "cache" / "models--org--tiny" / "blobs" / git_blob_oid(WEIGHTS)).is_file()


def test_a_new_commit_keeps_the_old_one_downloadable(hub, api, tmp_path):
    api.create_repo(REPO)
    v1 = api.upload_folder(repo_id=REPO, folder_path=make_folder(tmp_path / "v1", b"one"), commit_message="v1")
    v2 = api.upload_folder(repo_id=REPO, folder_path=make_folder(tmp_path / "v2", b"two"), commit_message="v2")
    assert v1.oid != v2.oid

    def weights(**kwargs) -> bytes:
        return Path(hf_hub_download(REPO, "model.safetensors", endpoint=hub.url, cache_dir=tmp_path / "c", **kwargs)).read_bytes()

    assert (weights(revision=v1.oid), weights(revision="main"), weights()) == (b"one", b"two", b"two")
    assert api.model_info(REPO, revision=v1.oid).sha == v1.oid
    info = api.model_info(REPO)
    assert info.sha == v2.oid and info.private is False
    assert sorted(s.rfilename for s in info.siblings) == [".gitattributes", "config.yaml", "model.safetensors",
                                                         "samples/manifest.json"]
    assert [c.title for c in api.list_repo_commits(REPO)] == ["v2", "v1", "initial commit"]

    # The preupload answer carries each remote file's oid, so the client skips unchanged files and empty commits.
    posts = len(hub.requests)
    again = api.upload_folder(repo_id=REPO, folder_path=tmp_path / "v2")
    assert again.oid == v2.oid
    assert ("POST", f"/api/models/{REPO}/commit/main") not in hub.requests[posts:]


def test_errors_raise_the_clients_own_exceptions(hub, api, tmp_path):
    api.create_repo(REPO)
    download = {"endpoint": hub.url, "cache_dir": tmp_path}
    with pytest.raises(RepositoryNotFoundError):
        api.model_info("org/missing")
    with pytest.raises(RepositoryNotFoundError):
        snapshot_download("org/missing", **download)
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("org/missing", "config.yaml", **download)
    with pytest.raises(RevisionNotFoundError):
        api.model_info(REPO, revision="no-such-branch")
    with pytest.raises(RevisionNotFoundError):
        snapshot_download(REPO, revision="no-such-branch", **download)
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(REPO, ".gitattributes", revision="0" * 40, **download)
    with pytest.raises(RemoteEntryNotFoundError):
        hf_hub_download(REPO, "missing.yaml", **download)


def test_create_branch_and_upload_to_it(hub, api, tmp_path):
    api.create_repo(REPO)
    main = api.upload_folder(repo_id=REPO, folder_path=make_folder(tmp_path / "main", b"main"))
    api.create_branch(REPO, branch="dev")
    api.create_branch(REPO, branch="dev", exist_ok=True)
    with pytest.raises(HfHubHTTPError):
        api.create_branch(REPO, branch="dev")
    dev = api.upload_folder(repo_id=REPO, folder_path=make_folder(tmp_path / "dev", b"dev"), revision="dev")
    api.create_branch(REPO, branch="pinned", revision=main.oid)

    refs = {b.name: b.target_commit for b in api.list_repo_refs(REPO).branches}
    assert refs == {"main": main.oid, "dev": dev.oid, "pinned": main.oid}
    for revision, expected in [("main", b"main"), ("dev", b"dev"), ("pinned", b"main")]:
        local = snapshot_download(REPO, revision=revision, endpoint=hub.url, cache_dir=tmp_path / "cache")
        assert (Path(local) / "model.safetensors").read_bytes() == expected


def test_cached_files_load_without_any_request(hub, api, tmp_path):
    api.create_repo(REPO)
    commit = api.upload_folder(repo_id=REPO, folder_path=make_folder(tmp_path / "model"))
    cache = {"endpoint": hub.url, "cache_dir": tmp_path / "cache"}
    online = snapshot_download(REPO, **cache)
    hub.requests.clear()

    assert snapshot_download(REPO, local_files_only=True, **cache) == online
    assert hf_hub_download(REPO, "config.yaml", local_files_only=True, **cache) == str(Path(online) / "config.yaml")
    # A pinned commit that is fully cached needs no request either, even online.
    assert snapshot_download(REPO, revision=commit.oid, **cache) == online
    assert hub.requests == []


def test_tree_listing_paths_info_and_deletions(hub, api):
    api.create_repo(REPO)
    api.upload_file(path_or_fileobj=b"a", path_in_repo="config.yaml", repo_id=REPO)
    api.upload_file(path_or_fileobj=b"b", path_in_repo="samples/deep/x.bin", repo_id=REPO)
    top = {(e.path, type(e).__name__) for e in api.list_repo_tree(REPO)}
    assert top == {(".gitattributes", "RepoFile"), ("config.yaml", "RepoFile"), ("samples", "RepoFolder")}
    assert [e.path for e in api.list_repo_tree(REPO, path_in_repo="samples")] == ["samples/deep"]
    assert [e.path for e in api.list_repo_tree(REPO, path_in_repo="samples", recursive=True)] == ["samples/deep",
                                                                                                 "samples/deep/x.bin"]
    with pytest.raises(RemoteEntryNotFoundError):
        list(api.list_repo_tree(REPO, path_in_repo="nope"))
    info = api.get_paths_info(REPO, ["config.yaml", "samples", "nope"])
    assert [(e.path, type(e).__name__) for e in info] == [("config.yaml", "RepoFile"), ("samples", "RepoFolder")]
    assert info[0].blob_id == git_blob_oid(b"a")

    api.delete_folder("samples", repo_id=REPO)
    api.delete_file("config.yaml", repo_id=REPO)
    assert api.list_repo_files(REPO) == [".gitattributes"]


def test_direct_helpers_range_and_corruption(hub, tmp_path):
    oid = hub.put_file(REPO, "config.yaml", b"a: 1\n")
    assert hub.head(REPO) == oid and hub.read_file(REPO, "config.yaml") == b"a: 1\n"
    request = urllib.request.Request(f"{hub.url}/{REPO}/resolve/main/config.yaml", headers={"Range": "bytes=3-"})
    with urllib.request.urlopen(request) as response:
        assert (response.status, response.read(), response.headers["Content-Range"]) == (206, b"1\n", "bytes 3-4/5")

    # Corrupted in place: same commit, same advertised ETag, other bytes (huggingface_hub does not notice).
    hub.corrupt_file(REPO, "config.yaml", b"a: 2\n")
    assert hub.head(REPO) == oid
    path = Path(hf_hub_download(REPO, "config.yaml", endpoint=hub.url, cache_dir=tmp_path))
    assert path.read_bytes() == b"a: 2\n" and path.resolve().name == git_blob_oid(b"a: 1\n")
