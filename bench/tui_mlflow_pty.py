"""Drives the real `cerebro tui` in a pseudo-terminal against an MLflow server, for
bench/tui_mlflow.sh (the Rust twin is benches/tui.rs's `Session`: same 200x60 screen, the
output fed to a terminal emulator, pyte here instead of vt100, markers timed from spawn).

    python tui_mlflow_pty.py speed BIN CONFIG URI RUNS REPS
        REPS launches; per launch: spawn to the first frame, to the first frame showing the
        newest run (`run-{RUNS-1}`), to every run read (`Runs RUNS/RUNS`), and the answer time
        of tab switches (4 Endpoints, then 2 Experiments) sent while the background read runs.
        Prints the medians.
    python tui_mlflow_pty.py dead-at-launch BIN CONFIG URI
        URI names no server: the TUI must start, show the error, switch tabs, quit cleanly.
    python tui_mlflow_pty.py dead-mid-session BIN CONFIG URI RUNS SERVER_PGID
        The server's process group is stopped once the first page is on screen (while every
        run is being read); then the TUI is used (detail, refresh, tabs) and quit.
"""
import fcntl
import json
import os
import pty
import select
import signal
import statistics
import struct
import sys
import termios
import time

import pyte

ROWS, COLS = 60, 200


class Session:
    def __init__(self, argv):
        self.screen = pyte.Screen(COLS, ROWS)
        self.stream = pyte.ByteStream(self.screen)
        self.raw = bytearray()
        self.spawned = time.monotonic()
        pid, fd = pty.fork()
        if pid == 0:
            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
            env = dict(os.environ, TERM="xterm-256color")
            env.pop("CEREBRO_CONFIG", None)
            env.pop("MLFLOW_TRACKING_URI", None)
            os.execve(argv[0], argv, env)
        self.pid, self.fd = pid, fd
        self.status = None

    def since(self):
        return time.monotonic() - self.spawned

    def text(self):
        return "\n".join(self.screen.display)

    def pump(self, timeout):
        """Reads what the TUI wrote within `timeout` seconds; False once it closed the pty."""
        r, _, _ = select.select([self.fd], [], [], timeout)
        if not r:
            return True
        try:
            data = os.read(self.fd, 65536)
        except OSError:
            return False
        if not data:
            return False
        self.raw += data
        self.stream.feed(data)
        return True

    def wait_for(self, marker, secs):
        """Seconds since spawn when the screen first showed `marker`, or None after `secs`."""
        deadline = time.monotonic() + secs
        while time.monotonic() < deadline:
            if marker in self.text():
                return self.since()
            if not self.pump(0.005):
                break
        return self.since() if marker in self.text() else None

    def press(self, keys):
        os.write(self.fd, keys.encode())

    def answer(self, key, marker, secs=10):
        """Seconds from sending `key` to the screen showing `marker`."""
        sent = time.monotonic()
        self.press(key)
        at = self.wait_for(marker, secs)
        return None if at is None else self.since() - (sent - self.spawned)

    def settle(self, quiet=0.3, secs=10):
        deadline = time.monotonic() + secs
        while time.monotonic() < deadline:
            before = len(self.raw)
            self.pump(quiet)
            if len(self.raw) == before:
                return

    def alive(self):
        if self.status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = status
        return self.status is None

    def quit(self, secs=10):
        """Sends q; returns (exit code or signal text, terminal restored, seconds to exit)."""
        sent = time.monotonic()
        self.press("q")
        deadline = sent + secs
        while self.alive() and time.monotonic() < deadline:
            self.pump(0.02)
        took = time.monotonic() - sent
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            return "killed after %ds" % secs, False, took
        while self.pump(0.05):
            pass
        attrs = termios.tcgetattr(self.fd)
        cooked = bool(attrs[3] & termios.ICANON) and bool(attrs[3] & termios.ECHO)
        tail = bytes(self.raw[-200:])
        restored = cooked and b"\x1b[?1049l" in tail and b"\x1b[?25h" in tail
        os.close(self.fd)
        code = (os.WEXITSTATUS(self.status) if os.WIFEXITED(self.status)
                else "signal %d" % os.WTERMSIG(self.status))
        return code, restored, took

    def footer(self):
        return [line.rstrip() for line in self.screen.display[-3:]]


def argv(bin_, config, uri):
    return [bin_, "--config", config, "--tracking-uri", uri, "tui"]


def ms(x):
    return None if x is None else round(x * 1000, 1)


def speed(bin_, config, uri, runs, reps):
    newest, every = f"run-{runs - 1} ", f"Runs {runs}/{runs}"
    out = {k: [] for k in ("first_frame", "first_runs", "all_runs", "tab_switch",
                           "tab_back", "switches_during_load", "exit")}
    for _ in range(reps):
        s = Session(argv(bin_, config, uri))
        out["first_frame"].append(s.wait_for("2 Experiments", 30))
        out["first_runs"].append(s.wait_for(newest, 30))
        # Tab switches while every run is read in the background, one every 0.5 s.
        during = 0
        while every not in s.text():
            reading = "reading every run" in s.text()
            t = s.answer("4", "No endpoints yet")
            back = s.answer("2", newest)
            if reading and every not in s.text():
                during += 1
                out["tab_switch"].append(t)
                out["tab_back"].append(back)
            s.wait_for(every, 0.5)
            if s.since() > 300:
                break
        out["switches_during_load"].append(during)
        out["all_runs"].append(s.wait_for(every, 1))
        code, restored, _ = s.quit()
        out["exit"].append(f"{code} restored={restored}")
    print(f"tui on mlflow, {runs} runs, 200x60, medians of {reps} launches:")
    for key, what in (("first_frame", "first frame"),
                      ("first_runs", "first frame with runs (the newest 100; target < 500 ms)"),
                      ("all_runs", "every run loaded"),
                      ("tab_switch", "tab switch (4) sent during the load, answered in"),
                      ("tab_back", "switch back (2) to the runs table, answered in")):
        xs = out[key]
        if not xs or None in xs:
            print(f"  {what}: missing in {xs.count(None)} of {len(xs)}")
        else:
            print(f"  {what}: {ms(statistics.median(xs))} ms "
                  f"(max {ms(max(xs))} ms, n={len(xs)})")
    print(f"  tab switches answered during the load, per launch: {out['switches_during_load']}")
    print(f"  exits: {out['exit']}")


def report(name, s, facts):
    code, restored, took = s.quit()
    facts.update(exit=code, terminal_restored=restored, quit_s=round(took, 2),
                 panicked=b"panicked" in s.raw)
    print(json.dumps({name: facts}, ensure_ascii=False))


def dead_at_launch(bin_, config, uri):
    s = Session(argv(bin_, config, uri))
    facts = {"first_frame_s": round(s.wait_for("2 Experiments", 30) or -1, 3)}
    at = s.wait_for("did not answer", 30)
    facts["error_shown_s"] = None if at is None else round(at, 2)
    facts["footer"] = s.footer()
    facts["experiments_title"] = next((ln.strip(" │┌─┐") for ln in s.screen.display
                                       if "Runs" in ln), None)
    facts["tab_4_answer_ms"] = ms(s.answer("4", "No endpoints yet"))
    facts["tab_1_answer_ms"] = ms(s.answer("1", "Schema"))
    s.settle()
    facts["alive_after_keys"] = s.alive()
    report("dead_at_launch", s, facts)


def dead_mid_session(bin_, config, uri, runs, pgid):
    newest = f"run-{runs - 1} "
    s = Session(argv(bin_, config, uri))
    facts = {"first_runs_s": round(s.wait_for(newest, 30) or -1, 3)}
    os.killpg(pgid, signal.SIGTERM)
    killed = s.since()
    facts["server_stopped_at_s"] = round(killed, 3)
    at = s.wait_for("did not answer", 60)
    facts["error_after_stop_s"] = None if at is None else round(at - killed, 2)
    facts["footer_after_stop"] = s.footer()
    facts["title_after_stop"] = next((ln.strip(" │┌─┐") for ln in s.screen.display
                                      if "Runs" in ln), None)
    facts["runs_still_listed"] = newest in s.text()
    # Use it: a run's detail (read from the server), a reload, tab switches, a filter.
    s.press("\r")
    at = s.wait_for("loading run ", 30)
    facts["detail_error_s"] = None if at is None else round(at - killed, 2)
    facts["detail_footer"] = s.footer()
    s.press("\x1b")
    s.settle(0.3)  # esc alone, not the start of an alt-key sequence
    s.press("\x12")  # ctrl-r
    s.wait_for("reloading", 5)
    at = s.wait_for("did not answer", 30)
    facts["refresh_error_s"] = None if at is None else round(at - killed, 2)
    facts["refresh_footer"] = s.footer()
    facts["tab_4_answer_ms"] = ms(s.answer("4", "No endpoints yet"))
    facts["tab_2_answer_ms"] = ms(s.answer("2", newest))
    facts["runs_listed_after_refresh"] = newest in s.text()
    facts["alive_after_keys"] = s.alive()
    report("dead_mid_session", s, facts)


if __name__ == "__main__":
    mode, bin_, config, uri = sys.argv[1:5]
    if mode == "speed":
        speed(bin_, config, uri, int(sys.argv[5]), int(sys.argv[6]))
    elif mode == "dead-at-launch":
        dead_at_launch(bin_, config, uri)
    elif mode == "dead-mid-session":
        dead_mid_session(bin_, config, uri, int(sys.argv[5]), int(sys.argv[6]))
    else:
        sys.exit(f"unknown mode {mode}")
