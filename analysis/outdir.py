"""Safe output directories (SPEC 8, 10): what `cohlab run` and `cohlab sweep` may write and replace.

Every run or sweep directory this program writes carries a small marker file,
:data:`MARKER`, written with its outputs. ``--force`` replaces an existing non-empty
directory only if it carries the marker; anything else (a folder of the user's, the current
folder, its ancestors, the home folder) is refused, with or without ``--force``, before any
run starts. Files and directories are created with the modes ordinary files get under the
user's umask (0644 and 0755 under umask 022), not the 0600/0700 of temporary files.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

MARKER = ".cohlab-output"
KINDS = ("run", "sweep")


class OutputError(RuntimeError):
    """The output directory cannot be used."""


def umask() -> int:
    """The process's umask (read without changing it where the system tells it)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def file_mode() -> int:
    """The mode a new ordinary file gets (0o644 under umask 022)."""
    return 0o666 & ~umask()


def dir_mode() -> int:
    """The mode a new ordinary directory gets (0o755 under umask 022)."""
    return 0o777 & ~umask()


def nearest_existing(path: Path) -> Path:
    """``path`` or its nearest ancestor that exists (missing parents are created when writing, like mkdir -p)."""
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def is_marked(path: Path) -> bool:
    """Whether ``path`` is a run or sweep directory this program wrote."""
    return (Path(path) / MARKER).is_file()


def marker_bytes(kind: str) -> bytes:
    """The marker's content: which program wrote the directory, and what kind it is."""
    return (json.dumps({"written_by": "coherence-lab", "kind": kind}) + "\n").encode()


def write_marker(directory: Path, kind: str) -> None:
    """Mark ``directory`` as a ``kind`` directory written by this program."""
    atomic_write(Path(directory) / MARKER, marker_bytes(kind))


def check_out_dir(
    out: str | Path, force: bool, *, resume: bool = False, flag: str = "--out", replace: str = "--force"
) -> Path:
    """Check an output directory before anything runs; return it as a Path. Writes nothing.

    Refused always: an empty path, the current folder or any of its ancestors, the home folder
    or its ancestors, an existing file, a place that cannot be written. Refused unless
    ``force``: an existing non-empty directory; with ``force`` it must be a directory this
    program wrote (it carries :data:`MARKER`). With ``resume`` an existing directory is kept.
    ``flag`` and ``replace`` name the options in the messages.

    Raises:
        OutputError: naming the path and why.
    """
    if not str(out).strip():
        raise OutputError(f"{flag} is empty: give the directory to write, e.g. {flag} runs/first")
    out = Path(out)
    real = Path(os.path.realpath(out))
    cwd = Path(os.path.realpath(Path.cwd()))
    home = Path(os.path.realpath(Path.home()))
    if real == cwd or cwd.is_relative_to(real):
        what = "the current folder" if real == cwd else "an ancestor of the current folder"
        raise OutputError(f"{flag} '{out}' is {what}; write into a new subfolder, e.g. {flag} runs/first")
    if real == home or home.is_relative_to(real):
        what = "the home folder" if real == home else "an ancestor of the home folder"
        raise OutputError(f"{flag} '{out}' is {what}; write into a new subfolder of it")
    if out.exists() and not out.is_dir():
        raise OutputError(f"output path '{out}' exists and is not a directory")
    base = nearest_existing(out.parent)
    if not base.is_dir():
        raise OutputError(f"cannot create '{out}': '{base}' is a file, not a directory")
    if not os.access(base, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write '{out}': '{base}' is not writable ({_why_not_writable(base)})")
    _probe(base, out)
    if out.is_dir() and not resume and any(out.iterdir()):
        if not is_marked(out):
            raise OutputError(
                f"output directory '{out}' is not empty and was not written by cohlab (it has no {MARKER} "
                f"file): choose another {flag}; even --force never replaces a folder cohlab did not write"
            )
        if not force:
            raise OutputError(f"output directory '{out}' exists and is not empty (use {replace} to replace it)")
    return out


def _probe(base: Path, out: Path) -> None:
    """Create and remove an empty directory in ``base``: the only sure test that writing will work
    (root passes ``os.access`` on /proc and /sys, where creating anything still fails). Leaves nothing."""
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".cohlab-probe.", dir=base))
    except OSError as exc:
        why = "a read-only filesystem" if exc.errno == errno.EROFS else (exc.strerror or str(exc)).lower()
        raise OutputError(f"cannot write '{out}': creating anything in '{base}' fails ({why})") from None


def _why_not_writable(path: Path) -> str:
    try:
        st = os.statvfs(path)
    except OSError as exc:
        return exc.strerror or str(exc)
    return "a read-only filesystem" if st.f_flag & os.ST_RDONLY else "permission denied"


def remove_marked(out: Path) -> None:
    """Delete a directory this program wrote (``--force``); refuses anything else."""
    if not is_marked(out):
        raise OutputError(f"refusing to delete '{out}': it is not a run or sweep directory written by cohlab")
    shutil.rmtree(out)


def make_dirs(path: Path) -> list[Path]:
    """``mkdir -p`` with ordinary modes; returns the directories it created (outermost first)."""
    created: list[Path] = []
    p = Path(path).absolute()
    while not p.exists():
        created.append(p)
        p = p.parent
    created.reverse()
    for d in created:
        try:
            d.mkdir(mode=dir_mode())
        except FileExistsError:
            pass
        except OSError as exc:
            raise OutputError(f"cannot create '{d}': {exc.strerror or exc}") from None
    return created


def temp_dir(parent: Path, name: str) -> Path:
    """A fresh hidden sibling directory to fill before renaming it into place, with an ordinary mode."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=parent))
    tmp.chmod(dir_mode())
    return tmp


@contextlib.contextmanager
def atomic_file(path: Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """Write ``path`` through a temporary sibling, flushed to disk and renamed into place (all or nothing)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, file_mode())
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_file`)."""
    with atomic_file(path) as fh:
        fh.write(data)
