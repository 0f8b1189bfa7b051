"""Checksums a file's host publishes, read from the host's API when the file is downloaded.

A card that cannot pin a hash by hand (`checksum: publisher`) is verified the way package
managers verify: the downloader asks the host what the file's checksum is, and checks the bytes
against that answer before it unpacks anything. Five hosts publish one through a documented
JSON API (the API URL is derived from the download URL unless the entry gives `api`):

- zenodo: `/api/records/{id}`, `files[].checksum` (`md5:...`) of the file's `key`;
- figshare: `api.figshare.com/v2/articles/{article}/files` (give `api`), `computed_md5`
  (else `supplied_md5`) of the file's `id` or `name`;
- huggingface: `/api/{datasets,models}/{repo}/tree/{revision}/{folder}`, the `lfs.oid`
  (sha256) of the file's `path`;
- github: a release asset's `digest` (`sha256:...`) from
  `api.github.com/repos/{o}/{r}/releases/tags/{tag}`; for the zip of a commit
  (`archive/{commit}.zip`), the commit's tree (`git/trees/{commit}?recursive=1`): each member's
  git blob id is computed and compared, and no file may be missing or extra;
- osf: `api.osf.io/v2/files/{id}/`, `data.attributes.extra.hashes` (`sha256`, else `md5`).

docs/catalog.md ("How a download is verified") says when each applies.
"""

from __future__ import annotations

import hashlib
import json
import re
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlparse

from cosmos_bench.core.errors import ChecksumError, CosmosError

HOSTS = ("zenodo", "figshare", "huggingface", "github", "osf")
_HOST_NAMES = {
    "zenodo.org": "zenodo",
    "sandbox.zenodo.org": "zenodo",
    "figshare.com": "figshare",
    "ndownloader.figshare.com": "figshare",
    "huggingface.co": "huggingface",
    "github.com": "github",
    "osf.io": "osf",
    "files.osf.io": "osf",
}
_COMMIT = re.compile(r"[0-9a-f]{40}")
_NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')


class PublisherError(CosmosError):
    """The host's API did not say what the file's checksum is (unreachable, malformed, the
    file not listed)."""


@dataclass(frozen=True)
class Published:
    """What a host says about one file: a digest (`md5`, `sha256`, or `git-tree`: the blob
    ids of a commit's files, for GitHub's archive of that commit) and where it said so."""

    host: str
    algorithm: str
    digest: str | dict[str, str]
    api: str

    @property
    def method(self) -> str:
        """How the file was verified, as the lock and SHA256SUMS' record say it."""
        return f"publisher:{self.host}"


def host_of(entry: dict) -> str | None:
    """The host a source file entry is verified by: its `publisher`, else its URL's host."""
    if entry.get("publisher"):
        return entry["publisher"]
    return _HOST_NAMES.get(urlparse(entry["url"]).netloc.lower())


def _parts(url: str) -> list[str]:
    return [unquote(p) for p in urlparse(url).path.split("/") if p]


def _base(url: str) -> str:
    parsed = urlparse(url)
    return f"{parsed.scheme}://{parsed.netloc}"


def api_url(entry: dict, host: str) -> str:
    """The API URL that lists the file's checksum: the entry's `api`, else derived from the URL
    (Zenodo and Hugging Face answer on the download's own host)."""
    if entry.get("api"):
        return entry["api"]
    url, parts = entry["url"], _parts(entry["url"])
    github = "https://api.github.com" if urlparse(url).netloc == "github.com" else _base(url)
    if host == "zenodo" and len(parts) >= 4 and parts[0] in ("records", "record"):
        return f"{_base(url)}/api/records/{parts[1]}"
    if host == "huggingface" and "resolve" in parts:
        k = parts.index("resolve")
        kind, repo = ("datasets", parts[1:k]) if parts[0] == "datasets" else ("models", parts[:k])
        folder = "/".join(parts[k + 2 : -1])
        return f"{_base(url)}/api/{kind}/{'/'.join(repo)}/tree/{parts[k + 1]}/{folder}".rstrip("/")
    if host == "github" and len(parts) >= 6 and parts[2:4] == ["releases", "download"]:
        return f"{github}/repos/{parts[0]}/{parts[1]}/releases/tags/{parts[4]}"
    if host == "github" and len(parts) == 4 and parts[2] == "archive":
        commit = parts[3].removesuffix(".zip")
        if _COMMIT.fullmatch(commit):
            return f"{github}/repos/{parts[0]}/{parts[1]}/git/trees/{commit}?recursive=1"
    if host == "osf" and parts and urlparse(url).netloc == "osf.io":
        file_id = parts[1] if parts[0] == "download" else parts[0]
        return f"https://api.osf.io/v2/files/{file_id}/"
    raise CosmosError(
        f"cannot derive the {host} API URL that lists {url}",
        fix="give the file's `api:` in the card (docs/catalog.md, 'How a download is verified')",
    )


def _zenodo(answer: dict, entry: dict, name: str) -> tuple[str, str]:
    files = answer.get("files", answer.get("entries", []))
    wanted = _parts(entry["url"])[3] if len(_parts(entry["url"])) > 3 else name
    for item in files:
        if item.get("key") in (wanted, name):
            algorithm, _, digest = str(item["checksum"]).partition(":")
            return algorithm, digest
    raise KeyError(wanted)


def _figshare(answer: dict | list, entry: dict, name: str) -> tuple[str, str]:
    files = answer if isinstance(answer, list) else [answer]
    file_id = _parts(entry["url"])[-1]
    for item in files:
        if str(item.get("id")) == file_id or item.get("name") == name:
            return "md5", item.get("computed_md5") or item["supplied_md5"]
    raise KeyError(name)


def _huggingface(answer: list, entry: dict, name: str) -> tuple[str, str]:
    parts = _parts(entry["url"])
    path = "/".join(parts[parts.index("resolve") + 2 :])
    for item in answer:
        if item.get("path") == path:
            if not item.get("lfs"):
                raise KeyError(f"{path} is not stored in LFS: the API gives no sha256 of it")
            return "sha256", item["lfs"]["oid"].removeprefix("sha256:")
    raise KeyError(path)


def _github(answer: dict, entry: dict, name: str) -> tuple[str, str | dict[str, str]]:
    if "tree" in answer:
        if answer.get("truncated"):
            raise KeyError("the tree listing is truncated: too many files for one answer")
        blobs = {i["path"]: i["sha"] for i in answer["tree"] if i.get("type") == "blob"}
        return "git-tree", blobs
    wanted = _parts(entry["url"])[-1]
    for asset in answer.get("assets", []):
        if asset.get("name") == wanted:
            if not asset.get("digest"):
                raise KeyError(f"release asset {wanted} has no digest")
            algorithm, _, digest = asset["digest"].partition(":")
            return algorithm, digest
    raise KeyError(wanted)


def _osf(answer: dict, entry: dict, name: str) -> tuple[str, str]:
    hashes = answer["data"]["attributes"]["extra"]["hashes"]
    algorithm = "sha256" if hashes.get("sha256") else "md5"
    return algorithm, hashes[algorithm]


_READERS = {
    "zenodo": _zenodo,
    "figshare": _figshare,
    "huggingface": _huggingface,
    "github": _github,
    "osf": _osf,
}


def get_json(url: str, timeout: float = 30.0, attempts: int = 3) -> object:
    """One API answer, retried on a dropped connection or a 5xx. A listing split in pages (a
    `Link: <...>; rel="next"` header, as Hugging Face sends) is read to its end."""
    error: Exception | None = None
    for _ in range(attempts):
        request = urllib.request.Request(url, headers={"Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                answer = json.loads(response.read())
                following = _NEXT.search(response.headers.get("Link") or "")
        except urllib.error.HTTPError as exc:
            error = exc
            if exc.code < 500:
                break
        except (OSError, ValueError) as exc:
            error = exc
        else:
            if following and isinstance(answer, list):
                rest = get_json(following[1], timeout, attempts)
                return answer + (rest if isinstance(rest, list) else [])
            return answer
    raise PublisherError(f"the checksum API did not answer ({error})", path=url)


def published(entry: dict, name: str, dataset: str, answers: dict[str, object]) -> Published:
    """What the file's host publishes as its checksum (PublisherError if it says nothing).
    `answers` keeps the API's answers of one download, so the 210 imaging files of one Hugging
    Face folder share one listing."""
    host = host_of(entry)
    if host not in HOSTS:
        raise CosmosError(
            f"{name}: no publisher API is known for {entry['url']}",
            dataset=dataset,
            fix=f"name its host in the card (`publisher:` one of {', '.join(HOSTS)}) and its "
            "`api:` URL, or pin a sha256",
        )
    url = api_url(entry, host)
    if url not in answers:
        answers[url] = get_json(url)
    answer = answers[url]
    try:
        algorithm, digest = _READERS[host](answer, entry, name)
    except (KeyError, TypeError, AttributeError, IndexError) as exc:
        raise PublisherError(
            f"{name}: the {host} API answer does not give its checksum ({exc})",
            dataset=dataset,
            path=url,
        ) from exc
    if algorithm not in ("md5", "sha256", "git-tree"):
        raise PublisherError(f"{name}: {host} gives a {algorithm} checksum", dataset=dataset)
    lowered = digest.lower() if isinstance(digest, str) else digest
    return Published(host, algorithm, lowered, url)


def git_blob_id(data: bytes) -> str:
    """Git's id of a file's content: SHA-1 of `blob <size>\\0` and the bytes."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def check_commit_archive(archive: Path, blobs: dict[str, str], dataset: str, url: str) -> None:
    """GitHub's zip of a commit holds exactly that commit's files: every member under the
    archive's top folder has the blob id the commit's tree lists, and none is missing."""
    with zipfile.ZipFile(archive) as zf:
        members = [i for i in zf.infolist() if not i.is_dir()]
        found: dict[str, str] = {}
        for info in members:
            path = PurePosixPath(info.filename)
            inner = "/".join(path.parts[1:])
            found[inner] = git_blob_id(zf.read(info))
    wrong = sorted(p for p in blobs if found.get(p) != blobs[p])
    extra = sorted(set(found) - set(blobs))
    if wrong or extra:
        first = (wrong + extra)[0]
        raise ChecksumError(
            dataset=dataset,
            path=f"{url} (member {first})",
            expected=blobs.get(first, "(not in the commit)"),
            actual=found.get(first, "(missing)"),
            algorithm="git blob",
        )
