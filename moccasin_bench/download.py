"""`graphs download`: fetch the paper's graph files from their published location, each checked
against the SHA-256 recorded here, written atomically, skipped when already present and valid."""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from moccasin_bench.errors import Incomplete, UserError

# The authors' repository at the commit that published the files (pinned: the hashes below are of that commit's files).
SOURCE_URL = "https://raw.githubusercontent.com/haoming-codes/moccasin/4da8878932a0fb7edee4ef71ac8719dfdf5d9a07/data/"
SOURCE_NAME = "github.com/haoming-codes/moccasin, folder data/"
LICENCE = "GPL-3.0"
TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class DataFile:
    """One published file: its name, size and SHA-256."""

    filename: str
    size_bytes: int
    sha256: str


FILES = (
    DataFile(
        "random_layered_n100_w0.27_nlv0.75_ed0.2_scd0.14.json",
        25_956,
        "9d8c75c4962d0bc45bf4fd73a51a8e66cbb975904bba0c133ea1bfca2032419e",
    ),
    DataFile(
        "random_layered_n250_w0.43_nlv0.75_ed0.2_scd0.14.json",
        80_709,
        "b048fb63c4857481fa53b31775507d21dceb5e203da3a63f95691eb9343d227d",
    ),
    DataFile(
        "random_layered_n500_w0.36_nlv0.75_ed0.2_scd0.14.json",
        187_045,
        "6a437a2c7eef7ad7d13f2dad9cae0ae8823c15454d900ec06292f22809ba4138",
    ),
    DataFile(
        "random_layered_n1000_w0.31_nlv0.75_ed0.2_scd0.14.json",
        416_982,
        "adb564e95412b872dfb97db78618d364c7f8207664ff74d603f0d52b78fac582",
    ),
    DataFile(
        "fcn_8_vgg (MLSys)_32_(416, 608, 3)_train_nx.json",
        11_947,
        "9bbdd4c8615068f80ceae170ba89bc1541de9fca3a583ca47f5e29d483c00435",
    ),
    DataFile(
        "ResNet50 (MLSys)_256_(224, 224, 3)_train_nx.json",
        60_749,
        "ad49efb20824a07ece0b11ba9a5449ba06e63ef352f0914decbe5471dbab1b57",
    ),
    DataFile(
        "VGG16 (MLSys)_256_(224, 224, 3)_train_nx.json",
        7_053,
        "4a62f7b7331e597b4b81fea77df7e1a8e31ca3e83b492d397cbee35975c1d30d",
    ),
    DataFile(
        "vgg_unet (MLSys)_32_(416, 608, 3)_train_nx.json",
        11_578,
        "c87900dddeeddc071307862ca7fbd9d60c5c23d5e2ef025f219cd7e12d4d80aa",
    ),
)


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def is_valid(path: Path, f: DataFile) -> bool:
    """The file is there with the recorded size and hash."""
    return path.is_file() and path.stat().st_size == f.size_bytes and sha256_of(path) == f.sha256


def file_url(base_url: str, filename: str) -> str:
    return base_url.rstrip("/") + "/" + urllib.parse.quote(filename)


def _fetch(url: str, f: DataFile) -> bytes:
    """The file's bytes (at most one byte past its recorded size); unreachable -> Incomplete, one line."""
    if not url.startswith(("https://", "http://", "file://")):
        raise UserError(f"the source must be an https://, http:// or file:// URL, got {url!r}")
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
            return response.read(f.size_bytes + 1)
    except urllib.error.HTTPError as exc:
        raise UserError(f"{f.filename}: the server answered {exc.code} {exc.reason} for {url}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc.strerror or exc
        raise Incomplete(
            f"cannot reach {url} ({reason}): no network, or the source moved; the files already fetched are kept, "
            "re-run to resume (or give another source with --from URL)"
        ) from None


def _write_atomically(data: bytes, target: Path) -> None:
    """Write to a temporary file beside the target, then rename: a reader never sees half a file."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the data are public
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def download(
    to_dir: Path,
    base_url: str = SOURCE_URL,
    files: tuple[DataFile, ...] = FILES,
    say: Callable[[str], None] = print,
) -> dict[str, int]:
    """Fetch every file missing or invalid in `to_dir`; returns counts of `fetched` and `present`.
    A file whose bytes do not match its SHA-256 is an error naming it, and nothing of it is written."""
    try:
        to_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create the data directory: {exc.strerror or exc}", str(to_dir)) from None
    counts = {"fetched": 0, "present": 0}
    for f in files:
        target = to_dir / f.filename
        if is_valid(target, f):
            counts["present"] += 1
            say(f"  present and valid: {f.filename}")
            continue
        replacing = target.exists()
        url = file_url(base_url, f.filename)
        data = _fetch(url, f)
        digest = hashlib.sha256(data).hexdigest()
        if len(data) != f.size_bytes or digest != f.sha256:
            raise UserError(
                f"{f.filename}: the file from {url} is not the published one ({len(data):,} bytes, SHA-256 {digest[:16]}…; "
                f"expected {f.size_bytes:,} bytes, {f.sha256[:16]}…); nothing written"
            )
        try:
            _write_atomically(data, target)
        except OSError as exc:
            raise UserError(f"cannot write: {exc.strerror or exc}", str(target)) from None
        counts["fetched"] += 1
        say(
            f"  fetched{' (replacing an invalid copy)' if replacing else ''}: {f.filename} ({f.size_bytes:,} bytes, SHA-256 checked)"
        )
    return counts
