"""What the command lines say when something is wrong, and what their --help tells (docs sweep items 21-29):
a busy REST/web port, the failure detector's timing flags, flatfile lines, the benchmarks' --help, admin tables."""
from __future__ import annotations

import argparse
import importlib
import re
import socket
import subprocess
import sys

import pytest

from cloudkit import REPO, admin, free_port_pair

BENCHES = ("accuracy", "cloud", "codecs", "deeplearning", "dl_kernels", "frames", "h2o_replay", "mrtask", "scoring",
           "web")


def _run(*args: str, stdin: str | None = None, timeout: float = 60.0) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], input=stdin, capture_output=True, text=True, timeout=timeout,
                          cwd=str(REPO), stdin=None if stdin is not None else subprocess.DEVNULL)


def _held(port: int) -> socket.socket:
    """A listening socket on 127.0.0.1:port, as another program holding the port."""
    s = socket.socket()
    s.bind(("127.0.0.1", port))
    s.listen()
    return s


# ------------------------------------------------------------------ a port a node cannot bind (item 21)

@pytest.mark.parametrize("which", ["rest", "cluster"])
def test_a_busy_port_is_one_line_and_the_same_exit_code_for_both_ports(launcher, which):
    """A busy REST/web port gave aiohttp's '[Errno 98] error while attempting to bind on address (...)' after
    'cloud formed'; it is one line naming the port and the ways out, and the exit code is the cluster port's."""
    port = free_port_pair()
    holder = _held(port if which == "rest" else port + 1)
    try:
        node = launcher.start(port, None)
        code = node.wait_exit(60)
    finally:
        holder.close()
    log = node.log()
    errors = [ln for ln in log.splitlines() if ln.startswith("error:")]
    assert code == 2 and len(errors) == 1, (code, log[-2000:])
    if which == "rest":
        assert errors[0] == (f"error: cannot bind REST/web port {port} on 127.0.0.1: address already in use "
                             f"(use another --port, or --no-web)"), log[-2000:]
        assert "stopped" in log                 # the node closed its cluster socket on the way out
    else:
        assert errors[0].startswith(f"error: cannot bind cluster port 127.0.0.1:{port + 1}"), log[-2000:]
    assert "Traceback" not in log and "Errno" not in log


def test_no_web_leaves_the_rest_port_alone(launcher):
    """The way out the message offers: --no-web starts on a busy REST port (it binds only port + 1)."""
    port = free_port_pair()
    holder = _held(port)
    try:
        node = launcher.start(port, None, extra=["--no-web"])
        node.wait_log("cloud formed", 30)
        assert node.proc.poll() is None
    finally:
        holder.close()


# ------------------------------------------------------------------ failure-detector flags (item 23)

def test_timing_flags_are_named_as_on_the_command_line_and_the_derived_value_says_so():
    res = _run("-m", "cluster.node", "--port", str(free_port_pair()), "--dead-after", "1")
    assert res.returncode == 2, res.stderr
    assert res.stderr.strip().splitlines()[-1] == (
        "error: need --heartbeat-interval < --suspect-after < --dead-after, got --heartbeat-interval 1, "
        "--suspect-after 0.5 (not given: half of --dead-after), --dead-after 1")
    res = _run("-m", "cluster.node", "--port", str(free_port_pair()), "--heartbeat-interval", "4")
    assert res.returncode == 2 and "--suspect-after 3 (not given: its default 3), --dead-after 6" in res.stderr
    res = _run("-m", "cluster.node", "--port", str(free_port_pair()), "--suspect-after", "7")
    assert res.returncode == 2 and "--suspect-after 7, --dead-after 6" in res.stderr and "not given" not in res.stderr


def test_the_config_rule_keeps_its_field_names_for_the_python_api():
    from cluster.config import NodeConfig
    with pytest.raises(ValueError, match=r"need heartbeat_interval < suspect_after < dead_after, got "
                                         r"heartbeat_interval 1, suspect_after 2, dead_after 2$"):
        NodeConfig(heartbeat_interval=1.0, suspect_after=2.0, dead_after=2.0).validate()


# ------------------------------------------------------------------ flatfiles (item 27)

def test_flatfile_errors_name_the_file_and_line(tmp_path):
    from cluster.flatfile import parse_flatfile_text, read_flatfile
    ff = tmp_path / "nodes.txt"
    ff.write_text("# my cloud\n127.0.0.1:54321\n\nbad line here\n")
    with pytest.raises(ValueError, match=re.escape(f"{ff}:4: expected one [name/]ip[:port] per line, got "
                                                   f"'bad line here'")):
        read_flatfile(str(ff))
    ff.write_text("127.0.0.1:54321\nno-such-host.invalid:54323  # down the hall\n")
    with pytest.raises(ValueError, match=re.escape(f"{ff}:2: cannot resolve host 'no-such-host.invalid' (the line "
                                                   f"reads 'no-such-host.invalid:54323  # down the hall')")):
        read_flatfile(str(ff))
    with pytest.raises(ValueError, match=r"^flatfile:1: bad port 'x'"):
        parse_flatfile_text("10.0.0.1:x\n")
    # H2O's format still reads: name/ip:port, a missing port, comments, blank lines, tabs around the entry
    ff.write_text("# c\nnode1/127.0.0.1:54321\n\tlocalhost:54323\t# me\n127.0.0.1\n\n127.0.0.1:54321\n")
    assert read_flatfile(str(ff)) == [("127.0.0.1", 54321), ("127.0.0.1", 54323)]


def test_a_node_with_a_bad_flatfile_line_exits_2_naming_it(tmp_path):
    ff = tmp_path / "nodes.txt"
    ff.write_text("127.0.0.1:54321\n127.0.0.1 54323\n")
    res = _run("-m", "cluster.node", "--port", str(free_port_pair()), "--flatfile", str(ff))
    assert res.returncode == 2, res.stderr
    assert res.stderr.strip().splitlines()[-1] == (f"error: {ff}:2: expected one [name/]ip[:port] per line, got "
                                                   f"'127.0.0.1 54323' (a '#' starts a comment)")


# ------------------------------------------------------------------ the benchmarks' --help (item 28)

def _parser_of(name: str, monkeypatch) -> argparse.ArgumentParser:
    """The parser a benchmark's main builds (caught at parse_args, before it runs anything)."""
    got = {}

    def catch(self, args=None, namespace=None):
        got["parser"] = self
        raise SystemExit(0)
    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", catch)
    with pytest.raises(SystemExit):
        importlib.import_module(f"tools.bench.{name}").main([])
    return got["parser"]


@pytest.mark.parametrize("name", BENCHES)
def test_every_bench_flag_has_help_and_its_default(name, monkeypatch):
    parser = _parser_of(name, monkeypatch)
    assert parser.prog == f"python -m tools.bench.{name}"
    formatter = parser._get_formatter()
    for action in parser._actions:
        if not action.option_strings or isinstance(action, argparse._HelpAction):
            continue
        flag = action.option_strings[-1]
        assert action.help, f"{name} {flag} has no help text"
        d = action.default
        if d is not None and not isinstance(d, bool) and d not in ("", [], ()):
            assert "default" in formatter._get_help_string(action).lower(), f"{name} {flag}: default not shown"


@pytest.mark.parametrize("name", ["codecs", "dl_kernels"])
def test_bench_help_shows_how_to_run_it(name):
    res = _run("-m", f"tools.bench.{name}", "--help")
    assert res.returncode == 0 and res.stdout.startswith(f"usage: python -m tools.bench.{name} "), res.stdout[:200]
    assert "(default: " in res.stdout


def test_h2o_worker_has_a_usage_line_and_no_traceback():
    """It read its job from standard input first: --help died with a JSONDecodeError traceback."""
    res = _run("-m", "tools.bench.h2o_worker", "--help")
    assert res.returncode == 0 and res.stdout.startswith("usage: echo '{\"runs\": [...]}' | PYTHON "), res.stdout
    for stdin, words in (("", "standard input is empty"), ("not json", "standard input is not a JSON job"),
                         ("[1, 2]", 'the job must be a JSON object {"runs": [run, ...], ...}')):
        res = _run(str(REPO / "tools" / "bench" / "h2o_worker.py"), stdin=stdin)
        assert res.returncode == 2 and words in res.stderr and "Traceback" not in res.stderr, res.stderr


# ------------------------------------------------------------------ admin tables (item 29)

def test_admin_tables_separate_thousands_of_every_count_and_none_of_a_pid():
    from tools.admin import _ident, _table
    text = _table([{"pid": 11983, "bytes": 4724, "keys": 3}, {"pid": 6942, "bytes": 8162584, "keys": 12000}],
                  [("pid", "pid", _ident), ("bytes", "bytes"), ("keys", "keys")])
    rows = [ln.split() for ln in text.splitlines()[2:]]
    assert rows == [["11983", "4,724", "3"], ["6942", "8,162,584", "12,000"]]


def test_admin_cloud_prints_the_node_pid_as_it_is(launcher):
    (node,) = launcher.cloud(1)
    out = admin("--cluster", node.address, "cloud")
    assert out.returncode == 0, out.stderr
    row = next(ln for ln in out.stdout.splitlines() if ln.startswith(node.address))
    assert str(node.proc.pid) in row.split(), row
