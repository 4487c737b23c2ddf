"""kgrec.files.write_atomic and write_all_atomic: whole files, a new file's permissions, never a
user's file."""

from __future__ import annotations

import errno
import fcntl
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from kgrec.errors import InputError
from kgrec.files import (
    is_temporary,
    remove_killed_temporaries,
    save_torch,
    write_all_atomic,
    write_atomic,
)


def test_a_file_is_written_whole_with_a_new_files_permissions(tmp_path):
    path = tmp_path / "sub" / "a.json"
    write_atomic(path, lambda tmp: tmp.write_text("one"))
    write_atomic(path, lambda tmp: tmp.write_text("two"))
    assert path.read_text() == "two"
    umask = os.umask(0o077)
    try:
        write_atomic(path, lambda tmp: tmp.write_text("three"))
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o600  # the umask's, not a temporary file's
    write_atomic(path, lambda tmp: tmp.write_text("four"))
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    assert [p.name for p in path.parent.iterdir()] == ["a.json"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("old")

    def fail(tmp):
        tmp.write_text("half")
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError):
        write_atomic(path, fail)
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_without_replace_nothing_at_the_path_is_overwritten(tmp_path):
    path = tmp_path / "a.txt"
    write_atomic(path, lambda tmp: tmp.write_text("new"), replace=False)
    assert path.read_text() == "new"
    for existing in (path, tmp_path / "link"):
        if existing.name == "link":
            existing.symlink_to(tmp_path / "nowhere")
        with pytest.raises(InputError, match="never overwrites"):
            write_atomic(existing, lambda tmp: tmp.write_text("other"), replace=False)
    assert path.read_text() == "new" and (tmp_path / "link").is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "link"]


def test_several_files_are_all_written_before_any_is_moved(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("old a")
    b.write_text("old b")

    def fail(tmp):
        tmp.write_text("half")
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError):
        write_all_atomic({a: lambda tmp: tmp.write_text("new a"), b: fail})
    assert (a.read_text(), b.read_text()) == ("old a", "old b")
    seen = []
    write_all_atomic(
        {a: lambda tmp: tmp.write_text("new a"), b: lambda tmp: tmp.write_text("new b")},
        before_moves=lambda: seen.append((a.read_text(), b.read_text())),
    )
    assert seen == [("old a", "old b")] and (a.read_text(), b.read_text()) == ("new a", "new b")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt"]


def test_only_write_atomics_own_temporary_names_are_temporary(tmp_path):
    fd, name = tempfile.mkstemp(dir=tmp_path, prefix=".model.pt.", suffix=".tmp")
    os.close(fd)
    assert is_temporary(Path(name), "model.pt") and not is_temporary(Path(name), "run.json")
    for other in (".model.pt.my-copy.tmp", ".model.pt.abcdefghi.tmp", "model.pt.abcdefgh.tmp"):
        (tmp_path / other).write_text("mine")
        assert not is_temporary(tmp_path / other, "model.pt")
    (tmp_path / ".model.pt.abcdefgh.tmp").symlink_to(name)
    assert not is_temporary(tmp_path / ".model.pt.abcdefgh.tmp", "model.pt")


def test_a_failed_write_removes_the_folders_it_made_and_no_other(tmp_path):
    # before: `kgrec recommend --export new/folder/out.tsv` that failed while writing left
    # new/folder behind, empty
    (tmp_path / "mine").mkdir()
    path = tmp_path / "mine" / "new" / "folder" / "a.tsv"

    def fail(tmp):
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_atomic(path, fail)
    with pytest.raises(RuntimeError):
        write_all_atomic({tmp_path / "other" / "b.tsv": lambda tmp: None, path: fail})
    assert [p.name for p in tmp_path.iterdir()] == ["mine"]
    assert not any((tmp_path / "mine").iterdir())
    write_atomic(path, lambda tmp: tmp.write_text("x"))  # a write that succeeds keeps them
    assert path.read_text() == "x"


def test_a_file_put_in_a_made_folder_meanwhile_keeps_that_folder(tmp_path):
    path = tmp_path / "new" / "a.tsv"

    def fail(tmp):
        (tmp_path / "new" / "theirs.txt").write_text("another process's")
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError):
        write_atomic(path, fail)
    assert [p.name for p in (tmp_path / "new").iterdir()] == ["theirs.txt"]


@pytest.mark.parametrize("replace", [True, False])
def test_a_write_removes_the_temporary_files_a_killed_write_of_its_file_left(tmp_path, replace):
    """A write killed (``kill -9``, simulated by ``os._exit(9)``) after its temporary file was
    written left ``.r.csv.XXXXXXXX.tmp`` beside the file for good, a full copy of the data
    (``kgrec recommend --export``'s, say): no later write removed it. The next write of that
    file removes it; a temporary file that a running write holds is kept."""
    path = tmp_path / "ex" / "r.csv"
    code = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from kgrec.files import write_atomic\n"
        "def write(tmp):\n"
        "    tmp.write_text('rows\\n')\n"
        "    os._exit(9)\n"
        f"write_atomic(Path({str(path)!r}), write, replace={replace})\n"
    )
    killed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert killed.returncode == 9, killed.stderr
    left = list(path.parent.iterdir())
    assert len(left) == 1 and is_temporary(left[0], "r.csv")  # what the kill left
    running = path.parent / ".r.csv.abcdefgh.tmp"  # a write of another process, running
    running.write_text("")
    mine = path.parent / ".r.csv.notes"  # not a temporary file's name
    mine.write_text("mine\n")
    with open(running, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(BlockingIOError), open(running, "rb") as other:  # as if held
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # by another process
        write_atomic(path, lambda tmp: tmp.write_text("rows\n"), replace=replace)
    assert sorted(p.name for p in path.parent.iterdir()) == [
        ".r.csv.abcdefgh.tmp",
        ".r.csv.notes",
        "r.csv",
    ]
    assert path.read_text() == "rows\n"


def test_writing_several_files_removes_what_a_killed_write_of_each_left(tmp_path):
    """write_all_atomic (a run's model.pt, metrics.json and student.pt) removed none of the
    temporary files a killed write of its files left; only ``kgrec train --resume`` did, for a
    run's own names. Now it removes them as write_atomic does."""
    files = {tmp_path / "run" / "model.pt": b"model", tmp_path / "run" / "metrics.json": b"{}"}
    code = (
        "import os\n"
        "from pathlib import Path\n"
        "from kgrec.files import write_all_atomic\n"
        "def killed(tmp):\n"
        "    tmp.write_bytes(b'half')\n"
        "    os._exit(9)\n"
        f"write_all_atomic({{Path({str(tmp_path / 'run' / 'model.pt')!r}): killed}})\n"
    )
    killed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert killed.returncode == 9, killed.stderr
    (left,) = (tmp_path / "run").iterdir()
    assert is_temporary(left, "model.pt")
    write_all_atomic(
        {path: lambda tmp, data=data: tmp.write_bytes(data) for path, data in files.items()}
    )
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["metrics.json", "model.pt"]


def test_a_temporary_file_removed_before_it_was_locked_is_made_anew(tmp_path, monkeypatch):
    """Two writes of one file (two tune workers' best.json, two exports): the other's removal
    of killed writes' temporary files can come between this write's ``mkstemp`` and its lock,
    find the new file unlocked and remove it. Before, this write went on by the file's name:
    ``write(tmp)`` made it anew, unlocked, so the next removal (a third write's, the other's
    next) removed it too, mid-write, and the write failed (FileNotFoundError) or lost its data.
    Now a write whose temporary file went before it was locked takes a new one."""
    path = tmp_path / "best.json"
    flock = fcntl.flock
    raced = []

    def racing(fd, operation):  # the other write's removal, just before this write's lock
        if not raced:
            raced.append(fd)
            remove_killed_temporaries(path)
        flock(fd, operation)

    monkeypatch.setattr(fcntl, "flock", racing)

    def write(tmp):
        tmp.write_text("{}\n")
        remove_killed_temporaries(path)  # a third write of the file begins

    write_atomic(path, write)
    assert raced
    assert [p.name for p in tmp_path.iterdir()] == ["best.json"]
    assert path.read_text() == "{}\n"


def test_save_torch_writes_what_torch_saves_and_names_the_file_the_disk_refuses(tmp_path):
    """A write the system refuses is its OSError, naming the file: torch.save(obj, path)
    raised a RuntimeError about its archive's position ("unexpected pos 704 vs 598") instead."""
    import torch

    values = {"a": torch.arange(5000, dtype=torch.float32)}
    save_torch(values, tmp_path / "whole.pt")
    assert torch.equal(torch.load(tmp_path / "whole.pt", weights_only=True)["a"], values["a"])
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1024, hard))  # a full disk (Python: EFBIG)
    try:
        with pytest.raises(OSError) as refused:
            save_torch(values, tmp_path / "big.pt")
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert refused.value.errno == errno.EFBIG
    assert refused.value.filename == str(tmp_path / "big.pt")


def test_save_torch_names_the_file_whose_last_bytes_the_disk_refuses_on_close(
    tmp_path, monkeypatch
):
    """The last bytes may be refused only as the file is closed (its buffer flushed), as an
    OSError that names no file (found by the read46 review); it is raised naming it."""
    import builtins
    import io

    real_open = builtins.open

    class FullOnClose(io.BytesIO):
        def close(self):
            if not self.closed:
                super().close()
                raise OSError(28, "No space left on device")

    def opened(path, mode="r", *args, **kwargs):
        return (
            FullOnClose()
            if "w" in mode and str(path).endswith(".pt")
            else real_open(path, mode, *args, **kwargs)
        )

    monkeypatch.setattr(builtins, "open", opened)
    with pytest.raises(OSError) as refused:
        save_torch({"a": 1}, tmp_path / "model.pt")
    assert refused.value.filename == str(tmp_path / "model.pt")
    assert refused.value.strerror == "No space left on device"
