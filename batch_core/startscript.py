"""The start task of a pool with `install_worker = true`: it makes a virtual environment in the
node's shared folder and installs the worker wheel there, then runs the pool's own start
command if it has one. Tasks of the built-in routes run that environment's Python."""

from __future__ import annotations

VENV = "dropbatch-venv"
VENV_PYTHON = f'"$AZ_BATCH_NODE_SHARED_DIR/{VENV}/bin/python"'


def install_worker_command(python: str, wheel: str, then: str | None = None) -> str:
    """A Batch command line (no shell unless it starts one, so it starts `/bin/sh`) that
    installs `wheel` (in the start task's working folder) with the Python `python` names.

    The environment sees the packages of the Python that made it (a `.pth` file lists that
    Python's site folders), so what the node image already has is not downloaded again; pip
    fetches the rest from the package index. A stock Ubuntu image lacks `python3-venv`: when
    making the environment fails and the task may use apt-get, it installs that first.
    `then`, the pool's own start command line, runs after, with its words as they are."""
    # Single quotes delimit the script on the command line: none inside it.
    script = "; ".join(
        [
            "set -e",
            f'v="$AZ_BATCH_NODE_SHARED_DIR/{VENV}"',
            f'{python} -m venv "$v" || {{ command -v apt-get >/dev/null'
            " && apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q"
            f' python3-venv && {python} -m venv "$v"; }}',
            'sp=$("$v/bin/python" -c "import site; print(site.getsitepackages()[0])")',
            f'{python} -c "import site; print(chr(10).join(site.getsitepackages()))"'
            ' > "$sp/dropbatch-base.pth"',
            '"$v/bin/python" -m pip install --disable-pip-version-check --no-input --quiet'
            f' "$AZ_BATCH_TASK_WORKING_DIR/{wheel}"',
        ]
    )
    if then is None:
        return f"/bin/sh -c '{script}'"
    return f"/bin/sh -c '{script}; exec \"$@\"' dropbatch-start {then}"


def venv_python_command(arguments: str) -> str:
    """A command line that runs the worker environment's Python with `arguments`."""
    return f"/bin/sh -c 'exec {VENV_PYTHON} {arguments}'"
