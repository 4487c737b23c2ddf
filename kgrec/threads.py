"""How many threads torch computes with: chosen deliberately, not left to torch's default.

torch starts one OpenMP thread per core. When another process keeps a core busy, those threads
wait on each other at every parallel region, and training can run 10 to 100 times slower than
with one thread. kgrec therefore takes the count from ``--threads``, else ``$KGREC_THREADS``,
else ``$OMP_NUM_THREADS`` (its first level, as OpenMP reads it; what a job scheduler or a user
sets for every program), else the cores nobody else is using: the usable cores less the
one-minute load average (rounded), at least 1.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from pathlib import Path

from kgrec.errors import InputError

ENV = "KGREC_THREADS"
OMP = "OMP_NUM_THREADS"
# the most threads torch.set_num_threads takes (a C int; above it, "Overflow when unpacking")
MAX_THREADS = 2**31 - 1
# the most threads the kernel lets there be (Linux)
KERNEL_THREADS_MAX = Path("/proc/sys/kernel/threads-max")
# a level OpenMP (libgomp) cannot read: its strtoul overflows ("Invalid value for environment
# variable OMP_NUM_THREADS")
_OMP_UNREADABLE = 2**64 - 1

log = logging.getLogger(__name__)


def usable_cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def most_threads() -> tuple[int, str]:
    """The most threads kgrec gives torch here, and why: torch takes a C int, and OpenMP starts
    every thread at its first parallel region (more than the kernel lets it start: a crash,
    not an error), so no more than :data:`KERNEL_THREADS_MAX` nor the soft ``RLIMIT_NPROC``
    (``ulimit -u``: all of this user's processes and threads) either."""
    limits = [(MAX_THREADS, "the most torch takes")]
    with contextlib.suppress(OSError, ValueError):  # not on Linux
        kernel = int(KERNEL_THREADS_MAX.read_text())
        limits.append((kernel, f"the kernel's most ({KERNEL_THREADS_MAX})"))
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NPROC)[0]
    except (ImportError, AttributeError, OSError, ValueError):  # not on a Unix
        soft = None
    if soft is not None and soft != resource.RLIM_INFINITY and soft > 0:
        limits.append((soft, "this user's limit on processes and threads (ulimit -u)"))
    return min(limits)


def omp_threads() -> int | None:
    """``$OMP_NUM_THREADS``'s count (``4``, or the first of ``4,2``), None where it is unset;
    a value OpenMP would not take either, or a count above :func:`most_threads`, is ignored
    with a warning."""
    raw = os.environ.get(OMP, "").strip()
    if not raw:
        return None
    # each level ASCII digits after an optional '+', as OpenMP (libgomp's strtoul) reads them,
    # or it takes none ('4,' nor '4,0'): int() reads '٣' as 3 too, a count OpenMP would not
    # take (isdigit takes '²', int() refuses it)
    levels = [level.strip().removeprefix("+") for level in raw.split(",")]
    if not all(digits.isascii() and digits.isdecimal() and int(digits) > 0 for digits in levels):
        log.warning("ignoring $%s=%r: not a positive whole number", OMP, raw)
        return None
    # a level libgomp cannot read it ignores whole; a first level above torch's most it reads
    # as no count (2**31 wraps to -2**31), and torch could not take it
    most, why = most_threads()
    if any(int(d) >= _OMP_UNREADABLE for d in levels) or int(levels[0]) > most:
        log.warning("ignoring $%s=%r: more than %d threads, %s", OMP, raw, most, why)
        return None
    return int(levels[0])


def whole_number(text: str) -> int:
    """A count of threads as ``--threads`` and ``$KGREC_THREADS`` give it: ASCII digits (a sign
    allowed), blanks around them ignored, as ``$OMP_NUM_THREADS``'s are read; a ValueError
    otherwise (``int()`` read ``1_0`` as 10 and ``٣``, another script's digit, as 3)."""
    if not re.fullmatch(r"[+-]?[0-9]+", text.strip()):
        raise ValueError(f"not a whole number: {text!r}")
    return int(text)


def choose_threads(requested: int | None = None) -> int:
    """``requested``, else ``$KGREC_THREADS``, else ``$OMP_NUM_THREADS``, else the idle cores
    (at least 1)."""
    field = "--threads"
    if requested is None and os.environ.get(ENV):
        raw, field = os.environ[ENV], ENV
        try:
            requested = whole_number(raw)
        except ValueError:
            raise InputError(f"${ENV} must be a whole number, got {raw!r}", field=ENV) from None
    if requested is not None:
        name = "threads" if field == "--threads" else f"${ENV}"
        if requested <= 0:
            raise InputError(f"{name} must be positive, got {requested}", field=field)
        most, why = most_threads()
        if requested > most:
            raise InputError(f"{name} must be at most {most}, {why}, got {requested}", field=field)
        return _warn_oversubscribed(requested, field if field == "--threads" else f"${ENV}")
    omp = omp_threads()
    if omp is not None:
        return _warn_oversubscribed(omp, f"${OMP}")
    cores = usable_cores()
    busy = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    return max(1, min(cores, round(cores - busy)))


def _warn_oversubscribed(threads: int, source: str) -> int:
    """``threads``, as asked, with a warning where they outnumber the usable cores: waiting on
    each other, they compute many times slower (1000 on 2 cores: an ml100k-kg epoch 90 times)."""
    cores = usable_cores()
    if threads > cores:
        log.warning(
            "%s asks for %d threads on %d usable core(s): they wait on each other and computing "
            "can be many times slower; give at most %d",
            source,
            threads,
            cores,
            cores,
        )
    return threads


def set_threads(requested: int | None = None) -> int:
    """Set torch's intra-op threads (:func:`choose_threads`); returns the count."""
    import torch

    threads = choose_threads(requested)
    torch.set_num_threads(threads)
    log.debug("computing with %d thread(s)", threads)
    return threads
