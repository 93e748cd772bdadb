"""The console script's start: OpenMP threads sleep while they wait, unless the user says."""

from __future__ import annotations

import os
import subprocess
import sys

from focusdig import launch


def test_openmp_threads_wait_passively_unless_the_user_set_a_policy():
    environ: dict[str, str] = {}
    launch.configure_openmp(environ)
    assert environ == {"OMP_WAIT_POLICY": "PASSIVE"}
    environ = {"OMP_WAIT_POLICY": "ACTIVE"}
    launch.configure_openmp(environ)
    assert environ == {"OMP_WAIT_POLICY": "ACTIVE"}


def test_the_console_script_sets_the_policy_before_pytorch_is_imported():
    probe = (
        "import builtins, os, sys\n"
        "seen = []\n"
        "real_import = builtins.__import__\n"
        "def recording_import(name, *args, **kwargs):\n"
        "    if name.split('.')[0] == 'torch' and 'torch' not in sys.modules:\n"
        "        seen.append(os.environ.get('OMP_WAIT_POLICY'))\n"
        "    return real_import(name, *args, **kwargs)\n"
        "builtins.__import__ = recording_import\n"
        "from focusdig import launch\n"
        "sys.argv = ['focusdig', 'models', 'list', '--help']\n"
        "try:\n"
        "    launch.main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(seen[:1], os.environ.get('OMP_WAIT_POLICY'))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    # PyTorch, when the command line imports it, finds the policy already set
    assert done.stdout.splitlines()[-1] in ("['PASSIVE'] PASSIVE", "[] PASSIVE")


def test_exit_status_is_that_of_sys_exit():
    assert [launch.exit_status(c) for c in (None, 0, 2, "message")] == [0, 0, 2, 1]


def test_the_console_script_exits_with_the_commands_status_after_its_exit_handlers():
    probe = (
        "import atexit, sys\n"
        "import focusdig.cli\n"
        "from focusdig import launch\n"
        "class Witness:\n"
        "    def __del__(self):\n"
        "        print('teardown', flush=True)\n"
        "witness = Witness()  # a module global: only the interpreter's teardown deletes it\n"
        "def command():\n"
        "    atexit.register(lambda: print('handler ran'))\n"
        "    sys.stdout.write('x' * 100_000)  # still buffered when the command ends\n"
        "    sys.exit(3)\n"
        "focusdig.cli.main = command\n"
        "sys.argv = ['focusdig']\n"
        "launch.main()\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 3
    assert done.stdout == "x" * 100_000 + "handler ran\n"  # no teardown: Witness never deleted


def test_real_commands_keep_their_statuses_and_output():
    run = [sys.executable, "-m", "focusdig"]
    helped = subprocess.run([*run, "--help"], capture_output=True, text=True)
    assert helped.returncode == 0 and "run" in helped.stdout
    wrong = subprocess.run([*run, "no-such-command"], capture_output=True, text=True)
    assert wrong.returncode == 2 and "No such command" in wrong.stderr
