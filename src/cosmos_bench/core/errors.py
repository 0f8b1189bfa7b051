"""Errors a user can act on: each names what failed, where, and what to do next."""

from __future__ import annotations

from pathlib import Path


class CosmosError(Exception):
    """A failure with its dataset, file and fix, rendered as one readable message."""

    def __init__(
        self,
        what: str,
        *,
        dataset: str | None = None,
        path: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.what = what
        self.dataset = dataset
        self.path = path
        self.fix = fix
        super().__init__(self.render())

    def render(self) -> str:
        parts = [f"[{self.dataset}] {self.what}" if self.dataset else self.what]
        if self.path:
            parts.append(f"  file: {self.path}")
        if self.fix:
            parts.append(f"  what to do: {self.fix}")
        return "\n".join(parts)


class ChecksumError(CosmosError):
    """A downloaded or local file whose checksum differs from the one its card pins, its host
    publishes or the lock records."""

    def __init__(
        self,
        *,
        dataset: str,
        path: str,
        expected: str,
        actual: str,
        algorithm: str = "sha256",
        fix: str | None = None,
    ) -> None:
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"{algorithm} mismatch: expected {expected}, got {actual}",
            dataset=dataset,
            path=path,
            fix=fix
            or "the file is corrupt or the source changed; delete it and download again, "
            f"or update the card's {algorithm} only if you trust the new file",
        )


def _source(path: str) -> str:
    """' (the source file X)' for a file of a local source folder, which results/raw links:
    the message must name the file the user can fix."""
    linked = Path(path)
    return f" (the source file {linked.resolve()})" if linked.is_symlink() else ""


def mismatched(what: str, *, dataset: str, path: str) -> CosmosError:
    """An image and its labels (or a structure file) of different sizes."""
    return CosmosError(
        what + _source(path),
        dataset=dataset,
        path=path,
        fix="the files do not belong together: check the card's format.images and "
        "format.labels patterns; if the release ships this pair broken, leave the case out "
        "with format.exclude (and say why in the card's notes)",
    )


def unreadable(reason: str, *, dataset: str, path: str) -> CosmosError:
    """A source file a reader cannot parse, named where it must be fixed."""
    return CosmosError(
        f"cannot read file: {reason}" + _source(path),
        dataset=dataset,
        path=path,
        fix="if the file is damaged, replace it in the source and rerun (a changed source file "
        "is fetched again); if it does not belong to the dataset (a stray file matching the "
        "card's pattern), add its case id to the card's format.exclude",
    )


class ConfigError(CosmosError):
    """A config key, card or model entry that cannot be used as written."""


def run_cli(main) -> None:
    """Run a stage's main(); a CosmosError prints its message (no traceback) and exits 1."""
    import sys

    try:
        main()
    except CosmosError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)
