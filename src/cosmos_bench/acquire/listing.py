"""Sources that are a host's folder or article rather than named files: the file list is read
from the host's API when the dataset is downloaded, and each file is verified by the checksum
the same answer gives (acquire.publisher), so such a card is verified without one pin.

- `osf: {node}/{folder}`: `api.osf.io/v2/nodes/{node}/files/osfstorage/{folder}/`, every page
  (`links.next`) of its `data`; a folder's own listing is its
  `relationships.files.links.related.href`; each file's `links.download`, and
  `attributes.extra.hashes` (the same item `/v2/files/{id}/` answers with).
- `figshare: {article}`: `api.figshare.com/v2/articles/{article}/files`, page by page; each
  file's `download_url` and `computed_md5`.

`include` keeps the files whose name matches one of its glob patterns (a card reads the images
and masks, not a folder's previews); `into` is the sub-folder of downloads/{id}/files/ and
raw/{id}/ the listing's files go to, their own sub-folders kept below it. The mirrors apply to
the API URLs as to the downloads (the caller's `get`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from fnmatch import fnmatch
from pathlib import PurePosixPath

from cosmos_bench.acquire.publisher import PublisherError
from cosmos_bench.core.errors import CosmosError

#: reads one API answer (the URL after the mirrors: acquire.publisher.get_json)
Get = Callable[[str], object]

OSF_API = "https://api.osf.io/v2"
FIGSHARE_API = "https://api.figshare.com/v2"
FIGSHARE_PAGE = 1000
HOSTS = ("osf", "figshare")


def host_of(listing: dict) -> str:
    return next(host for host in HOSTS if host in listing)


def listing_url(listing: dict) -> str:
    """The API URL of a listing's first page: its `api`, else the host's."""
    if listing.get("api"):
        return listing["api"]
    if "osf" in listing:
        node, _, folder = str(listing["osf"]).partition("/")
        return f"{OSF_API}/nodes/{node}/files/osfstorage/{folder + '/' if folder else ''}"
    return f"{FIGSHARE_API}/articles/{listing['figshare']}/files"


def _osf_files(url: str, get: Get, prefix: PurePosixPath) -> Iterator[tuple[str, dict]]:
    """(path below the listed folder, item) of every file, folders walked depth first."""
    while url:
        answer = get(url)
        for item in answer["data"]:
            path = prefix / item["attributes"]["name"]
            if item["attributes"]["kind"] == "folder":
                children = item["relationships"]["files"]["links"]["related"]["href"]
                yield from _osf_files(children, get, path)
            else:
                yield str(path), item
        url = (answer.get("links") or {}).get("next")


def _figshare_files(url: str, get: Get) -> list[dict]:
    files, page = [], 1
    while True:
        answer = get(f"{url}{'&' if '?' in url else '?'}page_size={FIGSHARE_PAGE}&page={page}")
        files += answer
        if len(answer) < FIGSHARE_PAGE:
            return files
        page += 1


def _checked(path: str, dataset: str, url: str) -> str:
    """A listed file's path, refused if it could leave the dataset's folder."""
    parts = PurePosixPath(path).parts
    if not parts or PurePosixPath(path).is_absolute() or ".." in parts:
        raise CosmosError(
            f"the host lists a file named {path!r}, which would leave the download folder",
            dataset=dataset,
            path=url,
            fix="report it to the host; leave this listing out of the card meanwhile",
        )
    return path


def _listed(host: str, url: str, get: Get, answers: dict) -> list[tuple[str, str, str]]:
    """(path, download URL, the API URL its hash is kept under) of every listed file."""
    if host == "osf":
        found = [(path, item, f"{OSF_API}/files/{item['id']}/") for path, item in
                 _osf_files(url, get, PurePosixPath())]  # fmt: skip
        for _, item, api in found:
            answers[api] = {"data": item}
        return [(path, item["links"]["download"], api) for path, item, api in found]
    answers[url] = _figshare_files(url, get)
    return [(item["name"], item["download_url"], url) for item in answers[url]]


def expand(listings: list[dict], get: Get, dataset: str, answers: dict) -> list[dict]:
    """Source file entries (url, filename, publisher, api) for every listed file; `answers`
    receives what the publisher check will read, so no file costs a second API call."""
    entries = []
    for listing in listings:
        host, url = host_of(listing), listing_url(listing)
        into = PurePosixPath(listing.get("into", ""))
        try:
            files = _listed(host, url, get, answers)
        except (KeyError, TypeError, AttributeError) as exc:
            raise PublisherError(
                f"the {host} listing's answer lacks {exc} (not the shape its API documents)",
                dataset=dataset,
                path=url,
            ) from exc
        patterns = listing.get("include", ["*"])
        for path, download, api in files:
            if any(fnmatch(PurePosixPath(path).name, p) for p in patterns):
                name = _checked(str(into / path), dataset, url)
                entries.append({"url": download, "filename": name, "publisher": host, "api": api})
    if listings and not entries:
        raise CosmosError(
            "the source's listings name no file",
            dataset=dataset,
            path=listing_url(listings[0]),
            fix="check the card's listings (ids, include patterns) against the host",
        )
    return entries
