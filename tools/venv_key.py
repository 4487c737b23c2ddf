"""Print the dependency list of pyproject.toml (``--list``) or a short hash of it and of the
pinned versions in tools/constraints.txt (default).

The Makefile keys the shared virtual environment by this hash, so a clone whose
dependencies are unchanged reuses the installed packages instead of downloading torch again.
"""

import hashlib
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python before 3.11
    sys.exit(f"kgrec needs Python 3.11 or newer; {sys.executable} is {sys.version.split()[0]}")

EXTRAS = ("dev",)


CONSTRAINTS = Path(__file__).parent / "constraints.txt"


def requirements() -> list[str]:
    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]
    deps = list(project["dependencies"])
    for extra in EXTRAS:
        deps += project["optional-dependencies"][extra]
    return deps


if __name__ == "__main__":
    reqs = requirements()
    if sys.argv[1:] == ["--list"]:
        print("\n".join(reqs))
    else:
        pins = [
            line.strip()
            for line in CONSTRAINTS.read_text().splitlines()
            if line.strip() and not line.lstrip().startswith("#")
        ]
        text = "\n".join([sys.version.split()[0], *reqs, *pins])
        print(hashlib.sha256(text.encode()).hexdigest()[:12])
