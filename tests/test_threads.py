"""Thread counts are chosen, not left to torch: --threads, else $KGREC_THREADS, else
$OMP_NUM_THREADS, else the idle cores."""

from __future__ import annotations

import os
import resource
import subprocess
import sys

import pytest
import torch

from kgrec import threads
from kgrec.cli import main
from kgrec.errors import InputError
from kgrec.threads import ENV, MAX_THREADS, OMP, choose_threads, most_threads, set_threads


@pytest.fixture
def two_cores(monkeypatch, tmp_path):
    """Two usable cores, no thread settings in the environment, and no limit on threads but
    torch's (the kernel's and ``ulimit -u`` above it)."""
    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.delenv(OMP, raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    kernel = tmp_path / "threads-max"
    kernel.write_text(f"{2**40}\n")
    monkeypatch.setattr(threads, "KERNEL_THREADS_MAX", kernel)
    unlimited = (resource.RLIM_INFINITY, resource.RLIM_INFINITY)
    monkeypatch.setattr(resource, "getrlimit", lambda which: unlimited)
    return kernel


def test_idle_cores_by_default(two_cores, monkeypatch):
    monkeypatch.setattr(os, "getloadavg", lambda: (0.1, 0.0, 0.0))
    assert choose_threads() == 2  # a quiet machine: every core
    monkeypatch.setattr(os, "getloadavg", lambda: (1.2, 0.0, 0.0))
    assert choose_threads() == 1  # another process keeps a core busy
    monkeypatch.setattr(os, "getloadavg", lambda: (5.0, 0.0, 0.0))
    assert choose_threads() == 1  # never fewer than one


def test_the_option_beats_the_environment_which_beats_the_load(two_cores, monkeypatch):
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    monkeypatch.setenv(ENV, "1")
    assert choose_threads() == 1
    assert choose_threads(3) == 3


def test_omp_num_threads_is_honoured_below_kgrecs_own_settings(two_cores, monkeypatch, caplog):
    """$OMP_NUM_THREADS, which a scheduler or a user sets for every program, was overridden by
    the idle cores (on a quiet 16-core machine with OMP_NUM_THREADS=1, kgrec took 14)."""
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    monkeypatch.setenv(OMP, "1")
    assert choose_threads() == 1
    monkeypatch.setenv(OMP, "3,1")  # nested levels: the first is torch's
    assert choose_threads() == 3
    monkeypatch.setenv(ENV, "2")
    assert choose_threads() == 2 and choose_threads(4) == 4
    monkeypatch.delenv(ENV)
    for bad in ("zero", "0", "-2"):  # OpenMP would not take them either: the idle cores
        monkeypatch.setenv(OMP, bad)
        caplog.clear()
        assert choose_threads() == 2
        assert f"ignoring $OMP_NUM_THREADS={bad!r}" in caplog.text


def test_omp_num_threads_of_a_digit_int_does_not_read_is_ignored_as_any_other(
    two_cores, monkeypatch, caplog
):
    """$OMP_NUM_THREADS=² (a digit to str.isdigit, not to int()) is ignored with the warning of
    any other value OpenMP would not take, and the idle cores taken; before, a traceback
    (ValueError: invalid literal for int())."""
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    for bad in ("²", "2²", "²,1"):
        monkeypatch.setenv(OMP, bad)
        caplog.clear()
        assert choose_threads() == 2
        assert f"ignoring $OMP_NUM_THREADS={bad!r}: not a positive whole number" in caplog.text


def test_omp_num_threads_of_other_scripts_digits_is_ignored_as_openmp_ignores_it(
    two_cores, monkeypatch, caplog
):
    """OpenMP (libgomp) reads ASCII digits only: $OMP_NUM_THREADS=٣ (ARABIC-INDIC DIGIT
    THREE), full-width ３, are no count to it, and kgrec ignores them with the same warning,
    taking the idle cores; before, int() read them as 3, so kgrec computed with 3 threads
    where OpenMP's own default was the cores (found by the rel50 review). A leading '+',
    which OpenMP takes, is taken too (before, ignored with the warning)."""
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    for bad in ("\u0663", "\uff13", "\u0663,1", "1\u0663"):
        monkeypatch.setenv(OMP, bad)
        caplog.clear()
        assert choose_threads() == 2  # the idle cores
        assert f"ignoring $OMP_NUM_THREADS={bad!r}: not a positive whole number" in caplog.text
    for good in (" 3 ", "+3", "03,1"):  # blanks, a sign, zeros: OpenMP reads them as 3
        monkeypatch.setenv(OMP, good)
        assert choose_threads() == 3


def test_omp_num_threads_of_a_level_openmp_refuses_is_ignored_whole(two_cores, monkeypatch, caplog):
    """OpenMP (libgomp) takes $OMP_NUM_THREADS only where every level of it is a positive
    whole number: of '4,' or '4,x' or '4,0' it takes none, its own default the cores, and
    kgrec ignores it so, with the warning, taking the idle cores. Before, kgrec read the
    first level alone and computed with 4 threads where OpenMP saw no count (found by the
    rev50 review)."""
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    for bad in ("4,", "4,x", "4,0", "4,,1", "4,-1", "4,\u0663"):
        monkeypatch.setenv(OMP, bad)
        caplog.clear()
        assert choose_threads() == 2, bad  # the idle cores
        assert f"ignoring $OMP_NUM_THREADS={bad!r}: not a positive whole number" in caplog.text
    for good in ("4, 1", "4 ,+2", " 4,1,1 "):  # OpenMP takes each: its first level is 4
        monkeypatch.setenv(OMP, good)
        assert choose_threads() == 4, good


def test_omp_num_threads_above_what_torch_takes_is_ignored_with_the_warning(
    two_cores, monkeypatch, caplog
):
    """$OMP_NUM_THREADS above 2**31 - 1, the most torch.set_num_threads takes (a C int), is
    ignored with the warning and the idle cores taken: OpenMP (libgomp) ignores a level its
    strtoul cannot read (2**64 - 1 and above: 'Invalid value for environment variable
    OMP_NUM_THREADS'), and a first level above 2**31 - 1 it wraps to no count
    (omp_get_max_threads() -2147483648 for 2**31). Before, torch.set_num_threads's traceback
    (ValueError: Overflow when unpacking long long) (found by the rev50 review)."""
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    for bad in ("99999999999999999999", str(MAX_THREADS + 1), str(2**64 - 1), "4,1" + "0" * 20):
        monkeypatch.setenv(OMP, bad)
        caplog.clear()
        assert choose_threads() == 2, bad  # the idle cores
        assert f"ignoring $OMP_NUM_THREADS={bad!r}: " in caplog.text, bad
    monkeypatch.setenv(OMP, f"4,{MAX_THREADS + 1}")  # OpenMP takes it: its first level is 4
    assert choose_threads() == 4
    monkeypatch.setenv(OMP, str(MAX_THREADS))  # torch takes it: many more than the cores
    caplog.clear()
    assert choose_threads() == MAX_THREADS
    assert "usable core(s)" in caplog.text


@pytest.mark.parametrize("source", ["--threads", ENV])
def test_a_count_above_what_torch_takes_is_refused(two_cores, monkeypatch, source):
    """--threads 99999999999999999999 (or $KGREC_THREADS so) is refused naming where it was
    given, as --threads 0 is; before, torch.set_num_threads's traceback (ValueError: Overflow
    when unpacking long long) (found by the rev50 review)."""
    for too_many in (99999999999999999999, MAX_THREADS + 1):
        if source == ENV:
            monkeypatch.setenv(ENV, str(too_many))
        with pytest.raises(InputError, match=f"at most {MAX_THREADS}") as raised:
            choose_threads(None if source == ENV else too_many)
        assert raised.value.field == source and str(too_many) in str(raised.value)


def test_a_command_refuses_more_threads_than_torch_takes_before_writing(
    tmp_path, tiny_recbole, capsys
):
    argv = ["train", "--model", "popularity", "--protocol", "ml1m-action-comedy"]
    argv += ["--data", str(tiny_recbole), "--out", str(tmp_path / "run")]
    assert main([*argv, "--threads", "99999999999999999999"]) == 2
    err = capsys.readouterr().err
    most, why = most_threads()  # this machine's
    assert f"kgrec train: error: field '--threads': threads must be at most {most}, {why}" in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("limit", ["kernel", "ulimit"])
def test_more_threads_than_the_machine_lets_a_process_start_are_refused(
    two_cores, monkeypatch, caplog, limit
):
    """OpenMP starts every thread torch is given at its first parallel region: more than the
    kernel's threads-max or the user's ``ulimit -u`` is refused as --threads (or
    $KGREC_THREADS), naming the limit, and ignored with a warning as $OMP_NUM_THREADS; the
    limit itself is taken. Before, --threads 2147483647 (the most torch takes) was taken with
    a warning, and training crashed (a segmentation fault on this machine)."""
    if limit == "kernel":
        two_cores.write_text("5000\n")
        why = f"the kernel's most ({two_cores})"
    else:
        monkeypatch.setattr(resource, "getrlimit", lambda which: (5000, resource.RLIM_INFINITY))
        why = "this user's limit on processes and threads (ulimit -u)"
    assert most_threads() == (5000, why)
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    for too_many in (5001, MAX_THREADS):
        with pytest.raises(InputError) as raised:
            choose_threads(too_many)
        assert str(raised.value) == (
            f"field '--threads': threads must be at most 5000, {why}, got {too_many}"
        )
        monkeypatch.setenv(ENV, str(too_many))
        with pytest.raises(InputError) as raised:
            choose_threads()
        assert f"$KGREC_THREADS must be at most 5000, {why}, got" in str(raised.value)
        monkeypatch.delenv(ENV)
        monkeypatch.setenv(OMP, str(too_many))
        caplog.clear()
        assert choose_threads() == 2  # the idle cores
        assert f"ignoring $OMP_NUM_THREADS='{too_many}': more than 5000 threads, {why}" in (
            caplog.text
        )
        monkeypatch.delenv(OMP)
    assert choose_threads(5000) == 5000  # many more than the cores: taken, with the warning


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("two", "whole number"),
        ("0", "positive"),
        # before: int() read these as 10 and 3, where --threads and $OMP_NUM_THREADS refuse them
        ("1_0", "whole number"),
        ("\u0663", "whole number"),
    ],
)
def test_bad_settings_are_clear_errors(two_cores, monkeypatch, value, message):
    monkeypatch.setenv(ENV, value)
    with pytest.raises(InputError, match=message):
        choose_threads()


def test_a_bad_environment_value_is_named_as_such(two_cores, monkeypatch):
    """$KGREC_THREADS=0 was reported as the option --threads, which the user had not given."""
    monkeypatch.setenv(ENV, "0")
    with pytest.raises(InputError, match=rf"\${ENV} must be positive") as raised:
        choose_threads()
    assert raised.value.field == ENV
    with pytest.raises(InputError, match="threads must be positive") as raised:
        choose_threads(0)
    assert raised.value.field == "--threads"


def test_set_threads_sets_torchs(two_cores, monkeypatch):
    before = torch.get_num_threads()
    try:
        assert set_threads(1) == 1 and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_commands_that_compute_apply_it(tmp_path, tiny_recbole, monkeypatch, capsys):
    before = torch.get_num_threads()
    try:
        argv = ["train", "--model", "popularity", "--protocol", "ml1m-action-comedy"]
        argv += ["--data", str(tiny_recbole), "--out", str(tmp_path / "run"), "--threads", "1"]
        assert main(argv) == 0
        assert torch.get_num_threads() == 1
        assert main(["evaluate", "--run", str(tmp_path / "run"), "--threads", "0"]) == 2
        assert "threads must be positive" in capsys.readouterr().err
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize(("given", "seen"), [(None, "1"), ("0", "0")])
def test_the_command_line_puts_large_tensors_on_huge_pages_unless_told(given, seen):
    # torch reads THP_MEM_ALLOC_ENABLE once, at its first allocation: kgrec.cli must set it
    # before any command imports torch, and leave a user's own value alone
    env = {k: v for k, v in os.environ.items() if k != "THP_MEM_ALLOC_ENABLE"}
    if given is not None:
        env["THP_MEM_ALLOC_ENABLE"] = given
    code = "import os, sys, kgrec.cli; print('torch' in sys.modules, os.environ[{!r}])"
    code = code.format("THP_MEM_ALLOC_ENABLE")
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["False", seen]


@pytest.mark.parametrize("source", ["--threads", ENV, OMP])
def test_more_threads_than_cores_are_taken_with_a_warning(two_cores, monkeypatch, caplog, source):
    """--threads 1000 on 2 cores trained an ml100k-kg epoch 90 times slower, without a word."""
    if source == "--threads":
        assert choose_threads(1000) == 1000
    else:
        monkeypatch.setenv(source, "1000")
        assert choose_threads() == 1000
    shown = source if source == "--threads" else f"${source}"
    assert f"{shown} asks for 1000 threads on 2 usable core(s)" in caplog.text
    caplog.clear()
    assert choose_threads(2) == 2  # as many as the cores: no warning
    assert "usable core" not in caplog.text


@pytest.mark.parametrize(
    "command", ["train", "evaluate", "tune", "recommend", "embed", "quickstart"]
)
def test_the_help_names_every_source_of_the_count(command, capsys):
    """`--threads`'s help named $KGREC_THREADS, then the idle cores, leaving out
    $OMP_NUM_THREADS, which is read before the idle cores."""
    with pytest.raises(SystemExit):
        main([command, "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "$KGREC_THREADS, else $OMP_NUM_THREADS, else the idle cores" in help_text


@pytest.mark.parametrize("value", ["1_0", "\u0663"])
def test_threads_option_takes_ascii_digits_as_kgrec_threads_does(value, capsys):
    """--threads 1_0 was 10 threads, --threads ٣ 3 (int()), which $KGREC_THREADS refuses."""
    from kgrec.cli import main

    with pytest.raises(SystemExit) as raised:
        main(["evaluate", "--run", "nowhere", "--threads", value])
    assert raised.value.code == 2
    assert f"--threads: invalid int value: {value!r}" in capsys.readouterr().err
