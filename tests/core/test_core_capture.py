"""Capturing what plugin code prints: only the importing thread's writes."""

from __future__ import annotations

import sys
import threading

from losses_core._capture import captured_output


def test_this_threads_writes_are_captured_and_other_threads_pass_through(capsys):
    started, release = threading.Event(), threading.Event()

    def other() -> None:
        started.set()
        release.wait(5)
        print("from the other thread")

    thread = threading.Thread(target=other)
    thread.start()
    started.wait(5)
    with captured_output() as (out, err):
        print("from the plugin")
        print("plugin warning", file=sys.stderr)
        release.set()
        thread.join(5)
        assert sys.stdout.isatty() == out._original.isatty()  # other attributes pass through
    assert out.text() == "from the plugin\n" and err.text() == "plugin warning\n"
    seen = capsys.readouterr()
    assert seen.out == "from the other thread\n" and seen.err == ""


def test_the_streams_are_restored_even_when_the_block_raises():
    before = sys.stdout, sys.stderr
    try:
        with captured_output():
            raise SystemExit(3)
    except SystemExit:
        pass
    assert (sys.stdout, sys.stderr) == before
