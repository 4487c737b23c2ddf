"""`tools/neo4j/neo4j start` run directly, as the README offers (issue 15, point 9): it needs no
Python with the neo4j driver on PATH, and a start that fails leaves no server running."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parents[1] / "tools" / "neo4j"


def _provisioned() -> Path:
    """The folder of the script's jars in the cache (provisioned where it holds .complete)."""
    cache = Path(os.environ.get("KGREC_CACHE", Path.home() / ".cache" / "kgrec"))
    return cache / _dist_name()


def _dist_name() -> str:
    """The name of the script's folder in a cache: keyed by the pom, the server class and how
    the class is compiled (before, not by the last: a cache whose class a newer javac had
    compiled without --release 17, which Java 17 refuses to load, was kept)."""
    compiled = b"javac --release 17\n"
    key = hashlib.sha256(
        (TOOL / "pom.xml").read_bytes() + (TOOL / "KgrecNeo4j.java").read_bytes() + compiled
    ).hexdigest()[:12]
    return f"neo4j-{key}"


def _jars_cached() -> bool:
    """Whether the script's jars are provisioned (else a start downloads them: minutes)."""
    return (_provisioned() / ".complete").is_file()


pytestmark = pytest.mark.slow
needs_neo4j = pytest.mark.skipif(
    shutil.which("java") is None or (not _jars_cached() and not os.environ.get("CI")),
    reason="needs java and the Neo4j jars in $KGREC_CACHE (run `make neo4j-start` once)",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def project(tmp_path) -> Path:
    """A copy of tools/neo4j in a project without .venv, and a PATH whose python3 lacks the
    driver (as on a fresh machine: the system Python)."""
    root = tmp_path / "project"
    shutil.copytree(TOOL, root / "tools" / "neo4j")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    python3 = bin_dir / "python3"
    python3.write_text(
        "#!/bin/sh\necho \"ModuleNotFoundError: No module named 'neo4j'\" >&2\nexit 1\n"
    )
    python3.chmod(0o755)
    return root


def _run(project: Path, tmp_path: Path, port: int, *args: str, **env: str):
    """The script's ``args`` on ``tmp_path / "db"``, run in ``tmp_path``, with ``env``."""
    environ = {k: v for k, v in os.environ.items() if k not in ("KGREC_PYTHON", "NEO4J_DIR")}
    environ.update(
        PATH=f"{tmp_path / 'bin'}:{environ['PATH']}", NEO4J_PORT=str(port), NEO4J_HEAP="512m"
    )
    environ.update(env)
    return subprocess.run(
        [str(project / "tools" / "neo4j" / "neo4j"), *args, str(tmp_path / "db")],
        env=environ,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )


@needs_neo4j
def test_start_without_a_driver_python_and_stop_when_not_ready(project, tmp_path):
    port = _free_port()
    try:
        failed = _run(project, tmp_path, port, "start", NEO4J_START_TIMEOUT="1")
        assert failed.returncode == 1, failed.stderr
        assert "stopping the server that did not become ready" in failed.stderr
        status = _run(project, tmp_path, port, "status")
        assert status.returncode == 3 and "not running" in status.stdout

        started = _run(project, tmp_path, port, "start")
        assert started.returncode == 0, started.stderr
        assert "No module named" not in started.stderr
        assert "checking readiness with a Bolt handshake" in started.stderr
        status = _run(project, tmp_path, port, "status")
        assert status.returncode == 0 and f"127.0.0.1:{port}" in status.stdout
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass  # Bolt listens
    finally:
        stopped = _run(project, tmp_path, port, "stop")
    assert stopped.returncode == 0, stopped.stderr
    assert _run(project, tmp_path, port, "status").returncode == 3


def test_start_refuses_a_port_another_process_holds(project, tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _run(project, tmp_path, port, "start")
    assert result.returncode == 1
    assert f"port {port} is in use by another process" in result.stderr
    assert not (tmp_path / "db" / "neo4j.pid").exists()  # nothing was started


def test_a_pid_file_naming_another_process_is_not_a_server(project, tmp_path):
    """A server that died leaves its pid file, and its pid may be reused: before, `status` said
    running, `start` said "already running" with nothing listening, and `stop` killed the
    process that had the number now."""
    other = subprocess.Popen(["sleep", "60"])
    try:
        (tmp_path / "db").mkdir()
        (tmp_path / "db" / "neo4j.pid").write_text(f"{other.pid}\n")
        port = _free_port()
        status = _run(project, tmp_path, port, "status")
        assert status.returncode == 3 and "not running" in status.stdout
        stopped = _run(project, tmp_path, port, "stop")
        assert stopped.returncode == 0 and "names no server" in stopped.stderr
        assert other.poll() is None  # still running: not killed
        assert not (tmp_path / "db" / "neo4j.pid").exists()
    finally:
        other.kill()
        other.wait()


def _fake_server(folder: Path, port: int, *, ready: bool = True) -> subprocess.Popen:
    """A process whose command line is that of this folder's server (java ... KgrecNeo4j DIR
    PORT), with its pid file and, ``ready``, the ready file a server writes once it answers:
    what `status` and `stop` recognise, without starting Neo4j."""
    folder.mkdir(exist_ok=True)
    server = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(600)", "KgrecNeo4j", str(folder), str(port)]
    )
    (folder / "neo4j.pid").write_text(f"{server.pid}\n")
    if ready:
        (folder / "ready").write_text(f"{port}\n")
    threading.Thread(target=server.wait, daemon=True).start()  # reaped once it exits, as a server
    return server


def test_the_server_of_a_folder_whose_name_begins_alike_is_not_this_ones(project, tmp_path):
    """A stale pid file of DIR whose pid is now the server of "DIR 2": before, DIR followed by a
    space anywhere in the command line made it DIR's server, and `stop DIR` stopped it."""
    port = _free_port()
    other = _fake_server(tmp_path / "db 2", port)
    try:
        (tmp_path / "db").mkdir()
        (tmp_path / "db" / "neo4j.pid").write_text(f"{other.pid}\n")
        status = _run(project, tmp_path, port, "status")
        assert status.returncode == 3 and "not running" in status.stdout
        stopped = _run(project, tmp_path, port, "stop")
        assert stopped.returncode == 0 and "names no server" in stopped.stderr
        assert other.poll() is None  # not stopped
    finally:
        other.kill()
        other.wait()


def _found_then_stopped(project, tmp_path, port: int, server, **env: str) -> None:
    """`status` (with ``env``) finds the fake ``server`` running on ``port``, and `stop` ends
    it (SIGTERM) and removes its pid file."""
    status = _run(project, tmp_path, port, "status", **env)
    assert status.returncode == 0 and f"running (pid {server.pid})" in status.stdout
    stopped = _run(project, tmp_path, port, "stop", **env)
    assert stopped.returncode == 0 and "stopped" in stopped.stderr, stopped.stderr
    assert server.wait(timeout=30) == -signal.SIGTERM
    assert not (tmp_path / "db" / "neo4j.pid").exists()


def test_the_server_is_recognised_whatever_the_terminal_width(project, tmp_path):
    """With COLUMNS in the environment, ps cut the command line at that width: before, `status`
    said "not running" of a running server and `stop` removed its pid file and left it running,
    with nothing left to stop it by."""
    port = _free_port()
    server = _fake_server(tmp_path / "db", port)
    try:
        _found_then_stopped(project, tmp_path, port, server, COLUMNS="40")
    finally:
        server.kill()
        server.wait()


def test_a_server_of_this_folder_on_another_port_is_named(project, tmp_path):
    """Started with NEO4J_PORT=A, the folder's server was reported running "on port B" to a
    `status` or `start` with NEO4J_PORT=B (or none): `make test` then said it used the server
    that ran already, and its Neo4j tests found no server on B and skipped."""
    port, other = _free_port(), _free_port()
    server = _fake_server(tmp_path / "db", other)
    try:
        status = _run(project, tmp_path, port, "status")
        assert status.returncode == 1
        assert f"on bolt://127.0.0.1:{other}, not on port {port}" in status.stdout
        started = _run(project, tmp_path, port, "start")
        assert started.returncode == 1
        assert f"on port {other}, not on {port}" in started.stderr
        assert f"set NEO4J_PORT={other}" in started.stderr
        assert server.poll() is None and (tmp_path / "db" / "neo4j.pid").exists()
        assert _run(project, tmp_path, other, "status").returncode == 0
    finally:
        server.kill()
        server.wait()


def test_a_server_still_starting_is_waited_for(project, tmp_path):
    """A second `start` (or `status`, as `make test` asks) while another start's server was still
    starting: before, it said "already running" (exit 0) at once, and the tests ran against a
    server that did not answer yet. Both wait for it to be ready now, and never stop it."""
    port = _free_port()
    server = _fake_server(tmp_path / "db", port, ready=False)
    try:
        for command in ("start", "status"):
            waited = _run(project, tmp_path, port, command, NEO4J_START_TIMEOUT="1")
            assert waited.returncode == 1, (command, waited.stderr)
            assert f"the server (pid {server.pid}) is not ready after 1 s" in waited.stderr
            assert server.poll() is None and (tmp_path / "db" / "neo4j.pid").exists()
        ready = threading.Timer(1.0, (tmp_path / "db" / "ready").write_text, ("ready\n",))
        ready.start()
        started = _run(project, tmp_path, port, "start", NEO4J_START_TIMEOUT="60")
        ready.join()
        assert started.returncode == 0, started.stderr
        assert "is starting; waiting for it to be ready" in started.stderr
        assert f"already running (pid {server.pid})" in started.stderr
        assert _run(project, tmp_path, port, "status").returncode == 0
        (tmp_path / "db" / "ready").unlink()
        threading.Timer(1.0, server.kill).start()
        status = _run(project, tmp_path, port, "status", NEO4J_START_TIMEOUT="60")
        assert status.returncode == 3 and "not running" in status.stdout, status.stderr
        assert "exited during start-up" in status.stderr
    finally:
        server.kill()
        server.wait()


def _path_without(tmp_path: Path, *names: str) -> str:
    """A PATH with every command of this one but `names` (links in one folder)."""
    farm = tmp_path / "path-without"
    farm.mkdir()
    for folder in os.environ["PATH"].split(os.pathsep):
        for command in Path(folder).glob("*") if Path(folder).is_dir() else ():
            if command.name not in names and not (farm / command.name).exists():
                (farm / command.name).symlink_to(command)
    return str(farm)


def test_the_server_is_recognised_without_ps(project, tmp_path):
    """A system without procps (a minimal container) has no `ps`: before, `status` said "not
    running" of a running server, and `stop` removed its pid file and left it running (found by
    the fresh47 review). The command line is read from /proc now."""
    port, other = _free_port(), _free_port()
    server = _fake_server(tmp_path / "db", port)
    path = f"{tmp_path / 'bin'}:{_path_without(tmp_path, 'ps')}"
    try:
        elsewhere = _run(project, tmp_path, other, "status", PATH=path)
        assert elsewhere.returncode == 1
        assert f"on bolt://127.0.0.1:{port}, not on port {other}" in elsewhere.stdout
        _found_then_stopped(project, tmp_path, port, server, PATH=path)
    finally:
        server.kill()
        server.wait()


@pytest.fixture
def jars(tmp_path) -> Path:
    """A cache whose jars count as provisioned (their .complete marker), so that `start` neither
    downloads them nor needs Maven; it holds no jars: a server started from it exits."""
    (tmp_path / "cache" / _dist_name()).mkdir(parents=True)
    (tmp_path / "cache" / _dist_name() / ".complete").touch()
    return tmp_path / "cache"


NO_JAVA = (
    "Java 17+ not found: install OpenJDK 17 (apt install openjdk-17-jdk-headless) or set JAVA_HOME"
)


@pytest.mark.parametrize("java_home", ["", "nojdk"])
def test_start_without_java_says_so(project, tmp_path, jars, java_home):
    """Without java (none on PATH, or a JAVA_HOME without bin/java), `start` said only that the
    server exited during start-up, and the reason ("nohup: failed to run command 'java'") was a
    line of console.log; it says what is missing now, and starts nothing."""
    home = str(tmp_path / java_home) if java_home else ""
    result = _run(
        project,
        tmp_path,
        _free_port(),
        "start",
        PATH=_path_without(tmp_path, "java", "javac", "mvn"),
        JAVA_HOME=home,
        KGREC_CACHE=str(jars),
    )
    assert result.returncode == 1
    assert NO_JAVA in result.stderr
    assert (f"JAVA_HOME={home} has no bin/java" if home else "no java on PATH") in result.stderr
    assert not (tmp_path / "db").exists()


@pytest.mark.parametrize("version", ["11.0.2", "1.8.0_392"])
def test_start_with_a_java_older_than_17_says_so(project, tmp_path, jars, version):
    java = tmp_path / "bin" / "java"
    java.write_text(f"#!/bin/sh\necho 'openjdk version \"{version}\" 2019-01-15' >&2\n")
    java.chmod(0o755)
    result = _run(project, tmp_path, _free_port(), "start", JAVA_HOME="", KGREC_CACHE=str(jars))
    assert result.returncode == 1
    assert f"{NO_JAVA} ({java} is version {version})" in result.stderr
    assert not (tmp_path / "db").exists()


def test_java_home_is_the_java_that_runs(project, tmp_path, jars):
    """JAVA_HOME names the JDK, as for Maven: before, `start` ran the java on PATH whatever it
    said."""
    java = tmp_path / "jdk" / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text(
        "#!/bin/sh\n"
        'case "$*" in -version) echo \'openjdk version "21.0.1" 2023-10-17\' >&2;;\n'
        '*) echo "$*" > "$(dirname "$0")/ran";; esac\n'
    )
    java.chmod(0o755)
    result = _run(
        project,
        tmp_path,
        _free_port(),
        "start",
        PATH=_path_without(tmp_path, "java", "javac", "mvn"),
        JAVA_HOME=str(tmp_path / "jdk"),
        KGREC_CACHE=str(jars),
        NEO4J_START_TIMEOUT="5",
    )
    assert result.returncode == 1  # the stand-in exits: no server
    assert "KgrecNeo4j" in (java.parent / "ran").read_text()


def test_provisioning_without_maven_says_so(project, tmp_path):
    result = _run(
        project,
        tmp_path,
        _free_port(),
        "start",
        PATH=_path_without(tmp_path, "mvn"),
        JAVA_HOME="",
        KGREC_CACHE=str(tmp_path / "cache"),
    )
    assert result.returncode == 1
    assert "Maven not found" in result.stderr and "apt install maven" in result.stderr
    assert not (tmp_path / "db").exists()


@pytest.mark.skipif(shutil.which("mvn") is None, reason="needs Maven")
def test_provisioning_prints_maven_plain(project, tmp_path):
    """Maven's output in a log is plain text: before, Maven 3.8 wrote ESC[0m reset codes around
    it though -B turned its colours off (found by the tidy48 review). The real Maven is run with
    the options provisioning gives it, asked only for its version: nothing is downloaded."""
    mvn = tmp_path / "bin" / "mvn"
    mvn.write_text(
        "#!/bin/sh\n"
        f'echo "$MAVEN_OPTS" > "{tmp_path / "maven-opts"}"\n'
        'for a do shift; case $a in dependency:*) ;; *) set -- "$@" "$a";; esac; done\n'
        f'exec "{shutil.which("mvn")}" "$@" -v\n'
    )
    mvn.chmod(0o755)
    result = _run(
        project,
        tmp_path,
        _free_port(),
        "start",
        JAVA_HOME="",
        KGREC_CACHE=str(tmp_path / "cache"),
        MAVEN_OPTS="-Dkgrec.test=kept",
    )
    assert result.returncode == 1  # no jars: KgrecNeo4j.java does not compile
    assert "-Dkgrec.test=kept" in (tmp_path / "maven-opts").read_text()  # Maven ran, theirs kept
    assert "\x1b" not in result.stdout + result.stderr
    assert not list((tmp_path / "cache").glob("*/.complete"))


@pytest.mark.parametrize(
    ("setting", "value", "said"),
    [
        ("NEO4J_START_TIMEOUT", "2.5", "a whole number of seconds"),
        ("NEO4J_START_TIMEOUT", "abc", "a whole number of seconds"),
        ("NEO4J_PORT", "abc", "a port number, 1 to 65535"),
        ("NEO4J_PORT", "0", "a port number, 1 to 65535"),
        ("NEO4J_PORT", "70000", "a port number, 1 to 65535"),
        ("KGREC_CACHE", " ", "blank"),
    ],
)
def test_a_bad_setting_is_named_and_starts_nothing(project, tmp_path, jars, setting, value, said):
    """Before, a NEO4J_START_TIMEOUT of 2.5 (or abc) killed `start` in its bash arithmetic while
    it waited, and the server it had started ran on, its pid file left; NEO4J_PORT=abc was a
    Java stack trace in console.log, 0 a server on a port of the system's choosing that the
    readiness check waited 180 s for; a blank KGREC_CACHE put the jars in a folder named " "
    in the working directory. Each is an error naming the setting now, before anything runs.
    The java is a stand-in that never answers: no driver Python, so the check in bash."""
    java = tmp_path / "jdk" / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text(
        f"#!{sys.executable}\n"
        "import sys, time\n"
        "if '-version' in sys.argv:\n"
        "    sys.exit(print('openjdk version \"17.0.15\" 2025-04-15', file=sys.stderr))\n"
        "time.sleep(60)\n"
    )
    java.chmod(0o755)
    env = {"JAVA_HOME": str(tmp_path / "jdk"), "KGREC_CACHE": str(jars), "NEO4J_START_TIMEOUT": "2"}
    env[setting] = value
    pidfile = tmp_path / "db" / "neo4j.pid"
    try:
        for command in ("start", "status"):
            result = _run(project, tmp_path, _free_port(), command, **env)
            if setting == "KGREC_CACHE" and command == "status":
                assert result.returncode == 3  # status reads no cache
                continue
            assert result.returncode == 2, (command, result.stderr)
            assert f"neo4j: {setting}" in result.stderr and said in result.stderr
            assert repr(value) in result.stderr
        assert not (tmp_path / "db").exists()  # nothing started
        assert not (tmp_path / " ").exists()  # the working directory
    finally:
        if pidfile.exists():  # before the fix: the server ran on
            os.kill(int(pidfile.read_text()), signal.SIGKILL)


def _newer_javac() -> Path | None:
    """A javac of a JDK newer than 17 on this machine, or None."""
    for javac in sorted(Path("/usr/lib/jvm").glob("*/bin/javac")):
        version = subprocess.run([javac, "-version"], capture_output=True, text=True)
        major = (version.stdout + version.stderr).split()[-1].split(".")[0]
        if major.isdigit() and int(major) > 17:
            return javac
    return None


@pytest.mark.skipif(
    _newer_javac() is None or not _jars_cached(), reason="needs a JDK newer than 17 and the jars"
)
def test_the_server_class_runs_on_java_17_whatever_jdk_compiled_it(project, tmp_path):
    """The jars and KgrecNeo4j.class are cached once for every clone and JDK: before, a first
    start with a JDK newer than 17 (JAVA_HOME) compiled the class for that JDK alone, and every
    later start with Java 17, the oldest the script takes, failed (UnsupportedClassVersionError,
    in console.log). The class is compiled for Java 17 now. Maven is a stand-in that links the
    jars cached already; the java that would run the server is one that exits."""
    cached = _provisioned() / "lib"
    shebang = "#!/bin/sh\n"
    mvn = tmp_path / "bin" / "mvn"
    mvn.write_text(
        shebang + "for a do case $a in -DoutputDirectory=*) out=${a#*=};; esac; done\n"
        f'for jar in "{cached}"/*.jar; do ln -s "$jar" "$out/"; done\n'
    )
    mvn.chmod(0o755)
    jdk = tmp_path / "jdk" / "bin"
    jdk.mkdir(parents=True)
    (jdk / "javac").symlink_to(_newer_javac())
    (jdk / "java").write_text(shebang + "echo 'openjdk version \"25.0.3\" 2026-04-21' >&2\n")
    (jdk / "java").chmod(0o755)
    result = _run(
        project,
        tmp_path,
        _free_port(),
        "start",
        JAVA_HOME=str(tmp_path / "jdk"),
        KGREC_CACHE=str(tmp_path / "cache"),
        NEO4J_START_TIMEOUT="5",
    )
    assert result.returncode == 1  # the stand-in java runs no server
    (compiled,) = (tmp_path / "cache").glob("neo4j-*/classes/KgrecNeo4j.class")
    assert int.from_bytes(compiled.read_bytes()[6:8], "big") == 61  # Java 17's class files


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["INT", "TERM"])
def test_an_interrupted_start_stops_the_server(project, tmp_path, jars, sig):
    """Ctrl-C while `start` waited for the server to answer: the script died and the server,
    which ignores SIGINT (it is started in the background), ran on; `make test` then had no
    server to stop (its trap is set once start returns)."""
    java = tmp_path / "jdk" / "bin" / "java"
    java.parent.mkdir(parents=True)
    stopped = tmp_path / "stopped"
    java.write_text(
        f"#!{sys.executable}\n"
        "import signal, sys, time\n"
        "if '-version' in sys.argv:\n"
        "    sys.exit(print('openjdk version \"17.0.15\" 2025-04-15', file=sys.stderr))\n"
        f"signal.signal(signal.SIGTERM, lambda *_: sys.exit(open({str(stopped)!r}, 'w').close()))\n"
        f"open({str(tmp_path / 'running')!r}, 'w').close()\n"
        "time.sleep(600)\n"  # never ready
    )
    java.chmod(0o755)
    environ = {k: v for k, v in os.environ.items() if k not in ("KGREC_PYTHON", "NEO4J_DIR")}
    environ.update(
        PATH=f"{tmp_path / 'bin'}:{environ['PATH']}",
        NEO4J_PORT=str(_free_port()),
        JAVA_HOME=str(tmp_path / "jdk"),
        KGREC_CACHE=str(jars),
    )
    start = subprocess.Popen(
        [str(project / "tools" / "neo4j" / "neo4j"), "start", str(tmp_path / "db")],
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a process group of its own, as a terminal's job
        # as in a terminal: SIGINT not ignored (it is under a shell's background job)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    pidfile = tmp_path / "db" / "neo4j.pid"
    server = None
    try:
        for _ in range(600):
            if (tmp_path / "running").exists() or start.poll() is not None:
                break
            time.sleep(0.1)
        server = int(pidfile.read_text())
        os.killpg(start.pid, sig)
        _, err = start.communicate(timeout=120)
        assert start.returncode != 0
        assert f"stopping the server (pid {server})" in err
        assert stopped.exists()  # the server had its SIGTERM
        assert not pidfile.exists()
    finally:
        if start.poll() is None:
            os.killpg(start.pid, signal.SIGKILL)
            start.wait()
        if server is not None and not stopped.exists():
            os.kill(server, signal.SIGKILL)  # before the fix: the server ran on


def _answering_java(tmp_path: Path) -> Path:
    """A JDK whose `java` stands in for the server: it takes the port (exits 1 where it cannot,
    as Neo4j does), writes the folder's ready file, answers every Bolt handshake, and records
    its pid in ``tmp_path / "launched"``; JAVA_HOME for it."""
    java = tmp_path / "jdk" / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text(
        f"#!{sys.executable}\n"
        "import os, socket, sys\n"
        "if '-version' in sys.argv:\n"
        "    sys.exit(print('openjdk version \"17.0.15\" 2025-04-15', file=sys.stderr))\n"
        f"with open({str(tmp_path / 'launched')!r}, 'a') as f:\n"
        "    print(os.getpid(), file=f)\n"
        "folder, port = sys.argv[-2], int(sys.argv[-1])\n"
        "server = socket.socket()\n"
        "server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        "try:\n"
        "    server.bind(('127.0.0.1', port))\n"
        "except OSError:\n"
        "    sys.exit('Address already in use')\n"
        "server.listen()\n"
        "open(os.path.join(folder, 'ready'), 'w').close()\n"
        "while True:\n"
        "    client, _ = server.accept()\n"
        "    client.recv(20)\n"
        "    client.sendall(bytes([0, 0, 6, 5]))\n"
        "    client.close()\n"
    )
    java.chmod(0o755)
    return tmp_path / "jdk"


def test_two_starts_at_the_same_instant_launch_one_server(project, tmp_path, jars):
    """Two `start`s of a new folder at the same instant: before, both found no server and
    launched one; the second server could not have the port, so that start failed and removed
    the pid file, which was the first's: a server left running that `status` and `stop` no
    longer found. Now the second waits for the first, then finds its server."""
    port = _free_port()
    environ = {k: v for k, v in os.environ.items() if k not in ("KGREC_PYTHON", "NEO4J_DIR")}
    environ.update(
        PATH=f"{tmp_path / 'bin'}:{environ['PATH']}",
        NEO4J_PORT=str(port),
        JAVA_HOME=str(_answering_java(tmp_path)),
        KGREC_CACHE=str(jars),
        NEO4J_START_TIMEOUT="60",
    )
    command = [str(project / "tools" / "neo4j" / "neo4j"), "start", str(tmp_path / "db")]
    starts = [
        subprocess.Popen(command, env=environ, stderr=subprocess.PIPE, text=True) for _ in range(2)
    ]
    try:
        errs = [start.communicate(timeout=120)[1] for start in starts]
        assert [start.returncode for start in starts] == [0, 0], errs
        launched = (tmp_path / "launched").read_text().split()
        assert len(launched) == 1, errs
        assert sum("already running" in err for err in errs) == 1, errs
        assert (tmp_path / "db" / "neo4j.pid").read_text().strip() == launched[0]
        status = _run(project, tmp_path, port, "status", KGREC_CACHE=str(jars))
        assert status.returncode == 0 and f"running (pid {launched[0]})" in status.stdout
    finally:
        stopped = _run(project, tmp_path, port, "stop", KGREC_CACHE=str(jars))
        for pid in (tmp_path / "launched").read_text().split():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
    assert stopped.returncode == 0 and "stopped" in stopped.stderr, stopped.stderr
