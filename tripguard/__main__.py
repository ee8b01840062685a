"""`tripguard` (the console script) and `python -m tripguard`."""

import signal


def _interrupted_while_loading(signum, frame):
    raise SystemExit(130)  # what a shell reports for Ctrl-C, without a traceback


def run() -> None:
    # Ctrl-C while the command's modules load (typer, numpy, numba: a second or more on a busy
    # machine) ends quietly; once loaded, the commands handle SIGINT themselves.
    signal.signal(signal.SIGINT, _interrupted_while_loading)
    from tripguard.cli import main

    signal.signal(signal.SIGINT, signal.default_int_handler)
    main()


if __name__ == "__main__":
    run()  # main() exits with the command's status
