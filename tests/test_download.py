"""`kgrec download` against a local HTTP server (this machine has no internet)."""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest

import kgrec.download
from kgrec.cli import main


@pytest.fixture
def http_root(tmp_path):
    """A local HTTP server over a folder; yields (folder, base URL)."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _zip(path: Path, files: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)


INTER = "user_id:token\titem_id:token\trating:float\n1\t10\t4\n"


def test_download_unpacks_into_dest(http_root, tmp_path, capsys):
    root, url = http_root
    _zip(
        root / "MovieLens/ml-100k.zip",
        {"ml-100k/ml-100k.inter": INTER, "ml-100k/ml-100k.item": "item_id:token\n10\n"},
    )
    dest = tmp_path / "data"
    assert main(["download", "ml-100k", "--dest", str(dest), "--base-url", url]) == 0
    assert (dest / "ml-100k" / "ml-100k.inter").read_text() == INTER
    assert (dest / "ml-100k" / "ml-100k.item").exists()
    assert "ml-100k.inter" in capsys.readouterr().out
    # a second run finds it there and fetches nothing (the server would 404 now), and says so
    # (before, it printed the folder as if it had just been fetched)
    (root / "MovieLens/ml-100k.zip").unlink()
    assert main(["download", "ml-100k", "--dest", str(dest), "--base-url", url]) == 0
    assert "already there, kept" in capsys.readouterr().out


def test_missing_archive_is_a_clear_error_and_writes_nothing(http_root, tmp_path, capsys):
    _, url = http_root
    dest = tmp_path / "data"
    assert main(["download", "ml-1m", "--dest", str(dest), "--base-url", url]) == 2
    err = capsys.readouterr().err
    assert "HTTP 404" in err and "ml-1m.zip" in err
    assert not (dest / "ml-1m").exists()
    # nor the data folder it made for it (before, an empty one was left)
    assert not dest.exists()


def test_not_an_atomic_dataset(http_root, tmp_path, capsys):
    root, url = http_root
    _zip(root / "MovieLens/ml-1m.zip", {"README.txt": "hello"})
    assert main(["download", "ml-1m", "--dest", str(tmp_path), "--base-url", url]) == 2
    assert "no .inter file" in capsys.readouterr().err
    assert not (tmp_path / "ml-1m").exists()


def test_unreachable_server_says_what_to_do(tmp_path, capsys):
    code = main(
        ["download", "ml-100k", "--dest", str(tmp_path), "--base-url", "http://127.0.0.1:9/none"]
    )
    assert code == 2
    assert "KGREC_DATA" in capsys.readouterr().err


def test_archive_escaping_dest_is_refused(http_root, tmp_path, capsys):
    root, url = http_root
    _zip(root / "MovieLens/ml-100k.zip", {"../evil.inter": INTER})
    assert main(["download", "ml-100k", "--dest", str(tmp_path / "d"), "--base-url", url]) == 2
    assert "outside the archive" in capsys.readouterr().err
    assert not (tmp_path / "evil.inter").exists()


def test_force_never_deletes_what_is_not_the_datasets(http_root, tmp_path, capsys):
    # before: --force removed the whole folder, a run the user kept there included
    root, url = http_root
    _zip(root / "MovieLens/ml-100k.zip", {"ml-100k/ml-100k.inter": INTER})
    dest = tmp_path / "data"
    assert main(["download", "ml-100k", "--dest", str(dest), "--base-url", url]) == 0
    (dest / "ml-100k" / "run1").mkdir()
    (dest / "ml-100k" / "run1" / "model.pt").write_text("mine")
    argv = ["download", "ml-100k", "--dest", str(dest), "--base-url", url, "--force"]
    assert main(argv) == 2
    assert "not a dataset's ('run1')" in capsys.readouterr().err
    assert (dest / "ml-100k" / "run1" / "model.pt").read_text() == "mine"
    (dest / "ml-100k" / "run1" / "model.pt").unlink()
    (dest / "ml-100k" / "run1").rmdir()
    assert main(argv) == 0  # the dataset's own files alone: replaced
    # a file where the folder would be, or under --dest: an error, not a traceback
    (tmp_path / "afile").write_text("mine")
    for where in (tmp_path / "afile", tmp_path / "afile" / "sub"):
        assert main(["download", "ml-100k", "--dest", str(where), "--base-url", url]) == 2
        assert "Traceback" not in capsys.readouterr().err
    (tmp_path / "d3").mkdir()
    (tmp_path / "d3" / "ml-100k").write_text("mine")
    assert (
        main(["download", "ml-100k", "--dest", str(tmp_path / "d3"), "--base-url", url, "--force"])
        == 2
    )
    assert "is a file" in capsys.readouterr().err
    assert (tmp_path / "d3" / "ml-100k").read_text() == "mine"


def test_force_keeps_a_dataset_file_the_archive_lacks(http_root, tmp_path, capsys):
    # before: --force deleted ml-100k.kg and .link added beside RecBole's files (its archive
    # holds .inter, .item and .user only), although they were not replaced
    root, url = http_root
    _zip(root / "MovieLens/ml-100k.zip", {"ml-100k/ml-100k.inter": INTER})
    dest = tmp_path / "data"
    assert main(["download", "ml-100k", "--dest", str(dest), "--base-url", url]) == 0
    (dest / "ml-100k" / "ml-100k.kg").write_text("mine")
    argv = ["download", "ml-100k", "--dest", str(dest), "--base-url", url, "--force"]
    assert main(argv) == 2
    assert "holds 'ml-100k.kg', which" in capsys.readouterr().err
    assert (dest / "ml-100k" / "ml-100k.kg").read_text() == "mine"
    assert (dest / "ml-100k" / "ml-100k.inter").read_text() == INTER
    assert not [p for p in dest.iterdir() if p.name.startswith(".ml-100k")]


def test_force_keeps_the_old_dataset_when_the_new_cannot_be_moved_in(
    http_root, tmp_path, capsys, monkeypatch
):
    # before: --force deleted the old folder, then moved the new one in; a failure between
    # the two left no dataset at all
    root, url = http_root
    _zip(root / "MovieLens/ml-100k.zip", {"ml-100k/ml-100k.inter": INTER})
    dest = tmp_path / "data"
    assert main(["download", "ml-100k", "--dest", str(dest), "--base-url", url]) == 0
    (dest / "ml-100k" / "ml-100k.inter").write_text("old")
    real_replace = os.replace

    def replace(src, dst):
        if Path(dst) == dest / "ml-100k" and "unpacked" in str(src):
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    argv = ["download", "ml-100k", "--dest", str(dest), "--base-url", url, "--force"]
    assert main(argv) == 2
    assert "cannot move the new ml-100k" in capsys.readouterr().err
    assert (dest / "ml-100k" / "ml-100k.inter").read_text() == "old"
    assert not [p for p in dest.iterdir() if p.name.startswith(".ml-100k")]


def test_force_keeps_the_old_dataset_that_cannot_go_back_for_the_next_download(
    http_root, tmp_path, capsys, monkeypatch, dead_pid
):
    """``--force`` whose new dataset could not be moved in, nor the old one back, deleted the
    old one with its temporary folder and said only that it could not write; the folder now
    stays, the error says where the old dataset is, and the next download puts it back."""
    root, url = http_root
    _zip(root / "MovieLens/ml-100k.zip", {"ml-100k/ml-100k.inter": INTER})
    dest = tmp_path / "data"
    (dest / "ml-100k").mkdir(parents=True)
    (dest / "ml-100k" / "ml-100k.inter").write_text("old")
    real_replace = os.replace

    def replace(src, dst):
        if Path(dst) == dest / "ml-100k":  # the new one in, and the old one back
            raise OSError(13, "Permission denied")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    argv = ["download", "ml-100k", "--dest", str(dest), "--base-url", url, "--force"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    (leftover,) = dest.glob(".ml-100k-*")
    assert f"the old ml-100k is kept in {leftover / 'old'}" in err
    assert (leftover / "old" / "ml-100k.inter").read_text() == "old"
    assert {p.name for p in leftover.iterdir()} == {"old", ".kgrec-download"}
    monkeypatch.setattr(os, "replace", real_replace)
    # this process has ended (as kgrec download's does): the next download puts it back
    (leftover / ".kgrec-download").write_text(
        json.dumps({"pid": dead_pid, "host": socket.gethostname()})
    )
    (root / "MovieLens/ml-100k.zip").unlink()  # nothing is fetched: the dataset is there
    assert main(["download", "ml-100k", "--dest", str(dest), "--base-url", url]) == 0
    assert [p.name for p in dest.iterdir()] == ["ml-100k"]
    assert (dest / "ml-100k" / "ml-100k.inter").read_text() == "old"


@pytest.mark.parametrize("base_url", ["mirror.example/recbole", ""])
def test_a_base_url_that_is_no_url_is_a_clear_error(base_url, tmp_path, capsys):
    """A --base-url without a scheme (or an empty one) ended in urllib's ValueError traceback
    (exit 1), after the destination folder was made."""
    dest = tmp_path / "data"
    assert main(["download", "ml-100k", "--dest", str(dest), "--base-url", base_url]) == 2
    err = capsys.readouterr().err
    assert f"base URL {base_url!r} is no URL" in err and "https://" in err
    assert not dest.exists()


def test_kgrec_download_url_set_but_empty_is_the_default(monkeypatch):
    """KGREC_DOWNLOAD_URL= (set, empty) means RecBole's, as an empty KGREC_DATA or KGREC_CACHE
    means their defaults; it was taken as the base URL '' (a traceback, before the check)."""
    from kgrec.commands.download import download_base_url
    from kgrec.download import RECBOLE_BASE_URL

    monkeypatch.setenv("KGREC_DOWNLOAD_URL", "")
    assert download_base_url() == RECBOLE_BASE_URL
    monkeypatch.setenv("KGREC_DOWNLOAD_URL", "http://mirror.example/recbole")
    assert download_base_url() == "http://mirror.example/recbole"


@pytest.mark.parametrize("value", ["  ", "mirror.example/recbole"])
def test_a_blank_or_bad_kgrec_download_url_is_refused_naming_it(
    value, tmp_path, monkeypatch, capsys
):
    """KGREC_DOWNLOAD_URL='  ' (or one without a scheme) was refused as "base URL '  ' is no
    URL", naming neither the variable nor where the URL came from (no --base-url was given)."""
    dest = tmp_path / "data"
    monkeypatch.setenv("KGREC_DOWNLOAD_URL", value)
    assert main(["download", "ml-100k", "--dest", str(dest)]) == 2
    err = capsys.readouterr().err
    assert f"field 'KGREC_DOWNLOAD_URL': KGREC_DOWNLOAD_URL {value!r} is no URL" in err
    assert not dest.exists()


def test_base_url_is_taken_over_kgrec_download_url(http_root, tmp_path, monkeypatch, capsys):
    root, url = http_root
    _zip(root / "MovieLens/ml-100k.zip", {"ml-100k/ml-100k.inter": INTER})
    monkeypatch.setenv("KGREC_DOWNLOAD_URL", "  ")
    dest = tmp_path / "data"
    assert main(["download", "ml-100k", "--dest", str(dest), "--base-url", url]) == 0
    assert (dest / "ml-100k" / "ml-100k.inter").read_text() == INTER


def test_a_damaged_archive_is_a_clear_error_and_keeps_the_dataset(http_root, tmp_path, capsys):
    """An archive whose compressed data is damaged (a bad mirror, a disk error) stopped
    `kgrec download` with zlib's traceback (exit 1); now it says so, and --force keeps the
    dataset already there."""
    root, url = http_root
    inter = "user_id:token\titem_id:token\n" + "".join(
        f"{i}\t{i * 7 % 100}\n" for i in range(20000)
    )
    archive = root / "MovieLens/ml-100k.zip"
    archive.parent.mkdir(parents=True)
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("ml-100k/ml-100k.inter", inter)
    damaged = bytearray(archive.read_bytes())
    for i in range(200, 260):  # inside the member's deflated data, not its headers
        damaged[i] ^= 0xFF
    archive.write_bytes(bytes(damaged))
    dest = tmp_path / "data"
    (dest / "ml-100k").mkdir(parents=True)
    (dest / "ml-100k" / "ml-100k.inter").write_text(INTER)
    args = ["download", "ml-100k", "--dest", str(dest), "--base-url", url, "--force"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "damaged zip archive" in err and "ml-100k.zip" in err
    assert [p.name for p in dest.iterdir()] == ["ml-100k"]  # no temporary folder left
    assert (dest / "ml-100k" / "ml-100k.inter").read_text() == INTER


def test_an_archive_whose_member_fails_its_crc_is_called_damaged(http_root, tmp_path, capsys):
    """A zip archive whose member's bytes do not match their CRC-32 (a flipped bit in a
    stored member) was called "not a zip archive", as if --base-url served something else;
    it is a damaged one, to fetch again, and nothing of it is kept."""
    root, url = http_root
    inter = "user_id:token\titem_id:token\n" + "".join(f"{i}\t{i * 7 % 100}\n" for i in range(500))
    archive = root / "MovieLens/ml-100k.zip"
    archive.parent.mkdir(parents=True)
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("ml-100k/ml-100k.inter", inter)
    damaged = bytearray(archive.read_bytes())
    damaged[300] ^= 0x01  # inside the stored member's data
    archive.write_bytes(bytes(damaged))
    dest = tmp_path / "data"
    assert main(["download", "ml-100k", "--dest", str(dest), "--base-url", url]) == 2
    err = capsys.readouterr().err
    assert "damaged zip archive" in err and "CRC" in err and "fetch it again" in err
    assert "not a zip archive" not in err
    assert not dest.exists() or not list(dest.iterdir())


def test_a_cut_download_says_so(tmp_path, capsys):
    """A connection that ended before the Content-Length the server announced left half an
    archive, reported as "not a zip archive", as if the mirror held a wrong file."""
    body = b"PK" + bytes(4000)

    class Cut(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[:1000])
            self.close_connection = True

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Cut)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        dest = tmp_path / "data"
        assert main(["download", "ml-100k", "--dest", str(dest), "--base-url", url]) == 2
    finally:
        server.shutdown()
        server.server_close()
    err = capsys.readouterr().err
    assert "after 1,000 of 4,002 bytes" in err and "ml-100k.zip" in err
    assert not dest.exists()  # nothing half-written


def test_an_archive_larger_than_the_free_disk_is_refused_before_unpacking(
    http_root, tmp_path, monkeypatch, capsys
):
    """An archive that unpacks to more than the disk of --dest holds (a full disk, or a
    --base-url serving a zip bomb): extraction filled the disk and stopped with an OSError
    ("No space left on device") mid-way; it is refused before anything is unpacked, naming
    the sizes, and --dest, which it made, is removed again."""
    root, url = http_root
    _zip(root / "MovieLens/ml-100k.zip", {"ml-100k/ml-100k.inter": INTER})
    dest = tmp_path / "data"
    real = shutil.disk_usage
    monkeypatch.setattr(
        "kgrec.download.shutil.disk_usage", lambda p: real(p)._replace(free=len(INTER) - 1)
    )
    assert main(["download", "ml-100k", "--dest", str(dest), "--base-url", url]) == 2
    err = capsys.readouterr().err
    assert f"unpacks to {len(INTER):,} bytes, more than the {len(INTER) - 1:,} bytes free" in err
    assert not dest.exists()  # the folder it made is removed again


def test_macos_metadata_is_left_out_and_two_datasets_are_refused(http_root, tmp_path, capsys):
    """An archive zipped on macOS holds ``__MACOSX/`` and AppleDouble ``._*`` members; they are
    not unpacked, so the dataset is the real ``ml-100k.inter``'s folder. Before, the first
    ``.inter`` in sorted order was ``__MACOSX/ml-100k/._ml-100k.inter``, and its folder of
    metadata was moved into place as the dataset. ``.inter`` files in two folders: refused,
    naming them, rather than one of them picked."""
    root, url = http_root
    mac = "\x00\x05\x16\x07 AppleDouble"
    _zip(
        root / "MovieLens/ml-100k.zip",
        {
            "__MACOSX/ml-100k/._ml-100k.inter": mac,
            "__MACOSX/._ml-100k": mac,
            "ml-100k/._ml-100k.item": mac,
            "ml-100k/ml-100k.inter": INTER,
            "ml-100k/ml-100k.item": "item_id:token\n10\n",
        },
    )
    dest = tmp_path / "data"
    assert main(["download", "ml-100k", "--dest", str(dest), "--base-url", url]) == 0
    assert sorted(p.name for p in (dest / "ml-100k").iterdir()) == ["ml-100k.inter", "ml-100k.item"]
    assert (dest / "ml-100k" / "ml-100k.inter").read_text() == INTER
    _zip(
        root / "MovieLens/ml-1m.zip",
        {"ml-1m/ml-1m.inter": INTER, "old/ml-1m.inter": INTER, "ml-1m/ml-1m.item": "item_id\n"},
    )
    assert main(["download", "ml-1m", "--dest", str(dest), "--base-url", url]) == 2
    err = capsys.readouterr().err
    assert "'ml-1m/ml-1m.inter'" in err and "'old/ml-1m.inter'" in err and "2 folders" in err
    assert not (dest / "ml-1m").exists()


@pytest.mark.parametrize("value", ["  ", "file"])
def test_a_blank_or_file_kgrec_data_is_refused_naming_it(
    value, http_root, tmp_path, monkeypatch, capsys
):
    """KGREC_DATA that is blank was a folder of that name in the working folder, the dataset
    fetched into `./  /ml-100k`; one that is a file was "cannot make PATH: File exists", naming
    neither KGREC_DATA nor the file."""
    root, url = http_root
    _zip(root / "MovieLens/ml-100k.zip", {"ml-100k/ml-100k.inter": INTER})
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    if value == "file":
        value = str(tmp_path / "afile")
        (tmp_path / "afile").write_text("mine")
    monkeypatch.setenv("KGREC_DATA", value)
    assert main(["download", "ml-100k", "--base-url", url]) == 2
    err = capsys.readouterr().err
    assert "KGREC_DATA" in err and repr(value) in err
    assert list(work.iterdir()) == []
    if value != "  ":
        assert (tmp_path / "afile").read_text() == "mine"


def test_a_killed_downloads_folder_is_removed_by_the_next_but_a_users_is_kept(
    http_root, tmp_path, capsys
):
    """A download killed (``kill -9``) while it fetched left its hidden temporary folder
    (``DEST/.ml-100k-XXXXXXXX/``, half an archive in it) that nothing read or removed. The next
    download into DEST removes it; folders of the user's (one of a download's name but without
    its marker, one named otherwise) are kept, and so is the folder of a download that runs."""
    root, url = http_root
    _zip(root / "MovieLens/ml-100k.zip", {"ml-100k/ml-100k.inter": INTER})
    started, release = threading.Event(), threading.Event()

    class Stall(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # half an archive, then nothing until the test ends
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.write(b"PK" + bytes(1000))
            self.wfile.flush()
            started.set()
            release.wait(60)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Stall)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    dest = tmp_path / "data"
    dest.mkdir()
    stalled = f"http://127.0.0.1:{server.server_address[1]}"
    command = ["download", "ml-100k", "--dest", str(dest), "--base-url", stalled]
    runs = [subprocess.Popen([sys.executable, "-m", "kgrec", *command]) for _ in range(2)]
    try:
        deadline = time.monotonic() + 120
        while len(list(dest.glob(".ml-100k-*/archive.zip"))) < 2:
            assert time.monotonic() < deadline, "the downloads never started"
            assert all(run.poll() is None for run in runs), "a download ended"
            time.sleep(0.1)
        killed = {p.name for p in dest.glob(".ml-100k-*") if str(runs[0].pid) in _marker(p)}
        runs[0].kill()  # SIGKILL: no clean-up runs
        runs[0].wait()
        running = {p.name for p in dest.glob(".ml-100k-*")} - killed
        assert len(killed) == len(running) == 1
        unmarked = dest / ".ml-100k-abcd1234"  # a download's name, no marker: the user's
        unmarked.mkdir()
        (unmarked / "notes.txt").write_text("mine")
        (dest / ".ml-100k-mine").mkdir()
        assert main(["download", "ml-100k", "--dest", str(dest), "--base-url", url]) == 0
        left = {p.name for p in dest.iterdir()}
        assert left == {"ml-100k", ".ml-100k-abcd1234", ".ml-100k-mine", *running}
        assert (unmarked / "notes.txt").read_text() == "mine"
    finally:
        runs[1].kill()
        runs[1].wait()
        release.set()
        server.shutdown()
        server.server_close()


def _marker(folder: Path) -> str:
    try:
        return (folder / ".kgrec-download").read_text()
    except OSError:
        return ""


def test_a_download_of_another_container_on_the_same_volume_is_left_alone(
    http_root, tmp_path, dead_pid
):
    """Containers with one host name share a data volume, each with pids of its own: the
    marker of a download running in the other names a pid that has ended here (or another
    process). Before, the next download here removed that running download's folder; now the
    lock the download holds on its marker keeps it, until that download ends."""
    _, url = http_root  # holds no archive: nothing is fetched
    dest = tmp_path / "data"
    running = dest / ".ml-100k-0ther0ne"
    running.mkdir(parents=True)
    (running / "archive.zip").write_bytes(b"PK" + bytes(100))
    marker = {"pid": dead_pid, "host": socket.gethostname()}
    (running / ".kgrec-download").write_text(json.dumps(marker) + "\n")
    holder = subprocess.Popen(  # the other container's download: it holds the marker's lock
        [
            sys.executable,
            "-c",
            "import fcntl, sys; f = open(sys.argv[1], 'a'); fcntl.flock(f, fcntl.LOCK_EX); "
            "print('locked', flush=True); sys.stdin.read()",
            str(running / ".kgrec-download"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "locked\n"
        assert main(["download", "ml-100k", "--dest", str(dest), "--base-url", url]) == 2
        assert (running / "archive.zip").exists()
    finally:
        holder.communicate("")  # that download ends; its folder is a killed one's now
    assert main(["download", "ml-100k", "--dest", str(dest), "--base-url", url]) == 2
    assert not running.exists()


def test_the_dataset_a_killed_force_had_set_aside_is_put_back(
    http_root, tmp_path, caplog, dead_pid
):
    """``--force`` sets the old dataset aside in its temporary folder (``old/``) before it moves
    the new one in: killed between the two, the next download puts it back, not deletes it."""
    _, url = http_root  # holds no archive: nothing is fetched
    dest = tmp_path / "data"
    leftover = dest / ".ml-100k-k1lled00"
    (leftover / "old").mkdir(parents=True)
    (leftover / "old" / "ml-100k.inter").write_text(INTER)
    marker = {"pid": dead_pid, "host": socket.gethostname()}
    (leftover / ".kgrec-download").write_text(json.dumps(marker))
    assert main(["download", "ml-100k", "--dest", str(dest), "--base-url", url]) == 0
    assert "put back" in caplog.text and "killed download --force" in caplog.text
    assert [p.name for p in dest.iterdir()] == ["ml-100k"]
    assert (dest / "ml-100k" / "ml-100k.inter").read_text() == INTER


def test_a_download_killed_as_it_removes_its_folder_leaves_no_file_behind(http_root, tmp_path):
    """A download (here ``--force``) killed as it removed its temporary folder, once its
    marker was gone (simulated by ``os._exit(9)`` after the marker's unlink), left the rest of
    the folder (the old dataset set aside, the archive) for good: without its marker no later
    download could tell it was a killed download's. The marker now goes last."""
    root, url = http_root
    _zip(root / "MovieLens" / "ml-100k.zip", {"ml-100k/ml-100k.inter": INTER})
    dest = tmp_path / "data"
    (dest / "ml-100k").mkdir(parents=True)
    (dest / "ml-100k" / "ml-100k.inter").write_text("user_id:token\titem_id:token\n1\t2\n")
    code = (
        "import os, sys\n"
        "from kgrec.cli import main\n"
        "unlink = os.unlink\n"
        "def killed(path, *args, **kwargs):\n"
        "    unlink(path, *args, **kwargs)\n"
        "    if os.path.basename(path) == '.kgrec-download':\n"
        "        os._exit(9)\n"
        "os.unlink = killed\n"
        f"main(['download', 'ml-100k', '--dest', {str(dest)!r}, '--base-url', {url!r}, "
        "'--force'])\n"
    )
    killed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert killed.returncode == 9, killed.stderr
    assert (dest / "ml-100k" / "ml-100k.inter").read_text() == INTER  # the new one, in place
    left = [p for p in dest.rglob("*") if p.is_file() and p.parent != dest / "ml-100k"]
    assert left == []


@pytest.mark.parametrize("when", ["after the fetch", "as it is moved in"])
def test_a_dataset_another_download_put_in_place_meanwhile_is_kept(
    http_root, tmp_path, capsys, caplog, monkeypatch, when
):
    """Two ``kgrec download ml-100k`` at once (two terminals, two jobs): the one that ends
    second found no dataset as it began, and then replaced, as ``--force`` does, the one the
    other had just put in place (which a reader may be reading), or, where a file had been added
    to it since (a ``.kg``), failed saying "--force would delete it", an option it was not
    given. Without ``--force`` it now keeps the dataset there, saying so (found by the conc43
    review)."""
    root, url = http_root
    _zip(root / "MovieLens/ml-100k.zip", {"ml-100k/ml-100k.inter": INTER})
    dest = tmp_path / "data"
    theirs = dest / "ml-100k"

    def other_download():  # the other download's dataset, with a file added to it since
        theirs.mkdir(parents=True)
        (theirs / "ml-100k.inter").write_text("theirs")
        (theirs / "ml-100k.kg").write_text("mine")

    if when == "after the fetch":
        real_fetch = kgrec.download._fetch

        def fetch(*args, **kwargs):
            real_fetch(*args, **kwargs)
            other_download()

        monkeypatch.setattr(kgrec.download, "_fetch", fetch)
    else:
        real_replace = os.replace

        def replace(src, dst):
            if Path(dst) == theirs and "unpacked" in str(src):
                other_download()
            return real_replace(src, dst)

        monkeypatch.setattr(os, "replace", replace)
    assert main(["download", "ml-100k", "--dest", str(dest), "--base-url", url]) == 0
    assert "another kgrec download put" in caplog.text and "kept that one" in caplog.text
    assert (theirs / "ml-100k.inter").read_text() == "theirs"
    assert (theirs / "ml-100k.kg").read_text() == "mine"
    assert [p.name for p in dest.iterdir()] == ["ml-100k"]  # no temporary folder left


@pytest.mark.parametrize(
    ("where", "code", "reason", "hint"),
    [
        ("tempfile.mkdtemp", 13, "Permission denied", "give another --dest"),
        ("zipfile.ZipFile.extractall", 28, "No space left on device", "free some space"),
    ],
)
def test_a_dest_it_cannot_write_in_is_a_clear_error_naming_it(
    where, code, reason, hint, http_root, tmp_path, monkeypatch, capsys
):
    """A --dest kgrec may not write in (a read-only shared data folder: its temporary folder
    refused) or whose disk fills up as the archive is unpacked stopped `kgrec download` with
    Python's traceback (exit 1); now it is an error naming the folder and the reason (exit 2),
    and nothing is left there."""
    root, url = http_root
    _zip(root / "MovieLens/ml-100k.zip", {"ml-100k/ml-100k.inter": INTER})
    dest = tmp_path / "data"
    dest.mkdir()

    def refuse(*args, **kwargs):
        raise OSError(code, reason)

    monkeypatch.setattr(where, refuse)
    assert main(["download", "ml-100k", "--dest", str(dest), "--base-url", url]) == 2
    err = capsys.readouterr().err
    assert f"cannot write ml-100k into {dest} ({reason}): " in err and hint in err
    assert "Traceback" not in err
    assert list(dest.iterdir()) == []


def test_an_archive_the_disk_refuses_is_no_network_error(http_root, tmp_path, capsys):
    """Before, a disk that filled up (here: a file-size limit, EFBIG) as the archive itself
    was saved was told as a failed download with a hint to copy the dataset by hand "without
    internet access"; now, as one full while unpacking, it names --dest and the space."""
    import resource

    root, url = http_root
    _zip(root / "MovieLens/ml-100k.zip", {"ml-100k/ml-100k.inter": INTER * 400})
    dest = tmp_path / "data"
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, hard))
    try:
        code = main(["download", "ml-100k", "--dest", str(dest), "--base-url", url])
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert f"cannot write ml-100k into {dest} (File too large): free some space" in err, err
    assert "internet" not in err and not dest.exists()
