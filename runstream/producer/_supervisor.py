"""The process that runs one submitted script and owns its run's status.

``python -m runstream.producer._supervisor <spec.json>``, started by
``experiment.submit()`` in its own session, so the script goes on when the
submitting notebook exits. It marks the run Preparing, then Running while
the script runs (sending heartbeats), streams the script's stdout and
stderr to the driver log ``user_logs/std_log.txt`` as they are written,
then Finalizing (capturing ``./outputs`` and storing the whole log as a
file), and finally Completed, Failed (with the script's error) or
Canceled. The script's folder is removed at the end.
"""

from __future__ import annotations

import codecs
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from runstream.producer._context import EXPERIMENT_VARIABLE, RUN_ID_VARIABLE
from runstream.producer._emitter import RunStream
from runstream.producer._experiment import Experiment
from runstream.producer._heartbeat import heartbeats
from runstream.producer._run import DRIVER_LOG, READ_FLUSH_TIMEOUT_S, Run
from runstream.producer._script import CANCEL_FILE, FAILED_FILE
from runstream.producer._workspace import Workspace

#: Most characters of log text in one event (at most 128 KiB of UTF-8).
MAX_LOG_CHUNK_CHARS = 32 * 1024
#: How often buffered log text is sent, and the cancel file looked for.
TICK_S = 0.2
#: How long a canceled script gets between SIGTERM and SIGKILL.
KILL_GRACE_S = 5.0
_ERROR_LINE = re.compile(
    r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b.*"
)


class LogStreamer:
    """Copies a pipe to a local file and to the run's driver log events."""

    def __init__(
        self, stream: RunStream, pipe: IO[bytes], local: Path
    ) -> None:
        self.stream = stream
        self.pipe = pipe
        self.local = local
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._lock = threading.Lock()
        self._buffer: list[str] = []
        self._buffered = 0
        self.offset = 0
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        with self.local.open("ab") as copy:
            while chunk := os.read(self.pipe.fileno(), 65536):
                copy.write(chunk)
                copy.flush()
                self._add(self._decoder.decode(chunk))
            self._add(self._decoder.decode(b"", final=True))

    def _add(self, text: str) -> None:
        with self._lock:
            self._buffer.append(text)
            self._buffered += len(text)
            full = self._buffered >= MAX_LOG_CHUNK_CHARS
        if full:
            self.send()

    def send(self) -> None:
        """Send the buffered text as events of bounded size."""
        with self._lock:
            text = "".join(self._buffer)
            self._buffer.clear()
            self._buffered = 0
            for start in range(0, len(text), MAX_LOG_CHUNK_CHARS):
                part = text[start : start + MAX_LOG_CHUNK_CHARS]
                self.stream.add_lifecycle(
                    "LogAppended",
                    {"name": DRIVER_LOG, "offset": self.offset, "text": part},
                )
                self.offset += len(part)

    def finish(self) -> None:
        """Wait for the pipe to close, then send the rest."""
        self._thread.join()
        self.send()


def failure_message(log_path: Path, returncode: int) -> str:
    """Return why a script failed: the last error line of its output."""
    try:
        lines = log_path.read_text(
            encoding="utf-8", errors="replace"
        ).splitlines()
    except OSError:
        lines = []
    for line in reversed(lines[-200:]):
        if _ERROR_LINE.match(line.strip()):
            return f"User program failed with {line.strip()}"

    return f"User program failed with exit code {returncode}"


def _stop(process: subprocess.Popen[bytes]) -> None:
    with_group = hasattr(os, "killpg")
    for sig, wait_s in (
        (signal.SIGTERM, KILL_GRACE_S),
        (signal.SIGKILL, 10.0),
    ):
        try:
            if with_group:
                os.killpg(process.pid, sig)
            else:
                process.send_signal(sig)
        except ProcessLookupError:
            return
        try:
            process.wait(wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def _watch(
    process: subprocess.Popen[bytes],
    streamer: LogStreamer,
    control: Path,
    max_duration_s: float,
) -> str | None:
    """Wait for the script; return "canceled" / "timed out" if stopped."""
    deadline = time.monotonic() + max_duration_s
    while process.poll() is None:
        time.sleep(TICK_S)
        streamer.send()
        if (control / CANCEL_FILE).exists():
            _stop(process)
            return "canceled"
        if time.monotonic() > deadline:
            _stop(process)
            return "timed out"

    return None


def _run_script(run: Run, spec: dict[str, Any], control: Path) -> None:
    workdir = Path(spec["workdir"])
    env = {
        **os.environ,
        **spec["environment_variables"],
        "PYTHONUNBUFFERED": "1",
        RUN_ID_VARIABLE: run.id,
        EXPERIMENT_VARIABLE: spec["experiment"],
        "RUNSTREAM_WORKSPACE": spec["workspace"],
        "RUNSTREAM_KAFKA_BOOTSTRAP": spec["kafka_bootstrap"],
        "RUNSTREAM_SERVER_URL": spec["server_url"],
        "RUNSTREAM_ARTIFACTS_URL": spec["artifacts_url"],
        "RUNSTREAM_TOPIC": spec["topic"],
    }
    process = subprocess.Popen(
        spec["command"],
        cwd=workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    run._set_status("Running")
    assert process.stdout is not None  # requested with stdout=PIPE
    log_path = control / "std_log.txt"
    streamer = LogStreamer(run._stream, process.stdout, log_path)
    stopped = _watch(process, streamer, control, spec["max_run_duration_s"])
    streamer.finish()
    _end(run, stopped, process.wait(), log_path, workdir)


def _end(
    run: Run,
    stopped: str | None,
    returncode: int,
    log_path: Path,
    workdir: Path,
) -> None:
    if stopped == "canceled":
        run._set_status("Canceled")
        return

    run._set_status("Finalizing")
    run._outputs = workdir / "outputs"
    run._capture_outputs()
    run.upload_file(DRIVER_LOG, log_path)
    if stopped == "timed out":
        message = (
            "the script ran past max_run_duration_seconds and was stopped"
        )
        run._set_status(
            "Failed", error_code="UserError", error_message=message
        )
    elif returncode != 0:
        message = failure_message(log_path, returncode)
        run._set_status(
            "Failed", error_code="UserError", error_message=message
        )
    elif (failure := _script_failure(log_path.parent)) is not None:
        # Set again after Finalizing, so the script's verdict is the last.
        run._set_status("Failed", **failure)
    else:
        run._set_status("Completed")


def _script_failure(control: Path) -> dict[str, str | None] | None:
    """Return the error a script failed its own run with, if it did.

    The script's ``fail()`` leaves it in the control folder: the store
    cannot be asked, since it may not hold the script's last events yet.
    """
    marker = control / FAILED_FILE
    if not marker.exists():
        return None
    error: dict[str, str | None] = json.loads(
        marker.read_text(encoding="utf-8")
    )
    return error


def main(spec_path: str) -> int:
    """Run the script a spec file describes; return the exit code."""
    control = Path(spec_path).parent
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    workspace = Workspace(
        spec["workspace"],
        kafka_bootstrap=spec["kafka_bootstrap"],
        server_url=spec["server_url"],
        artifacts_url=spec["artifacts_url"],
        topic=spec["topic"],
    )
    run = Run._attached(
        Experiment(workspace, spec["experiment"]), spec["run_id"]
    )
    run._set_status("Preparing")
    try:
        _run_script(run, spec, control)
    except BaseException as exc:
        run._set_status(
            "Failed",
            error_code="SystemError",
            error_message=f"runstream could not run the script: {exc!r}",
        )
        raise
    finally:
        heartbeats().remove(run._stream)
        run._stream.emitter.flush(READ_FLUSH_TIMEOUT_S)
        shutil.rmtree(spec["workdir"], ignore_errors=True)

    shutil.rmtree(control, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
