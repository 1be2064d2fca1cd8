"""network.py on real namespaces (root only; no broker): a cut link drops packets both ways between
two nodes and only between them, heal_all() restores it, remove() leaves nothing behind."""

from __future__ import annotations

import subprocess
import sys

import pytest

from network import Network, remove_stale, run, unavailable

PORT = 7777
# A listener that accepts for 20 s, in node 1's namespace.
SERVER = ("import socket, time\n"
          "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
          f"s.bind(('0.0.0.0', {PORT})); s.listen(16); s.settimeout(1)\n"
          "end = time.time() + 20\n"
          "while time.time() < end:\n"
          "    try: s.accept()[0].close()\n"
          "    except OSError: pass\n")
CONNECT = ("import socket, sys\n"
           "try: socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1).close()\n"
           "except OSError: sys.exit(1)\n")


def reaches(net: Network, from_node: int | None, to_node: int) -> bool:
    prefix = ["ip", "netns", "exec", net.namespaces[from_node]] if from_node else []
    done = subprocess.run([*prefix, sys.executable, "-c", CONNECT, net.ips[to_node], str(PORT)],
                          capture_output=True, timeout=10)
    return done.returncode == 0


@pytest.fixture
def net():
    reason = unavailable()
    if reason:
        pytest.skip(reason)
    n = Network([1, 2, 3])
    server = None
    try:
        n.create()
        server = subprocess.Popen(["ip", "netns", "exec", n.namespaces[1], sys.executable, "-c", SERVER])
        yield n
    finally:
        if server is not None:
            server.kill()
            server.wait(timeout=10)
        n.remove()


def test_a_cut_link_drops_both_ways_only_between_its_nodes_and_heals(net):
    for _ in range(50):  # the listener takes a moment to start
        if reaches(net, None, 1):
            break
    assert reaches(net, None, 1) and reaches(net, 2, 1) and reaches(net, 3, 1)

    net.cut(1, 2)
    assert not reaches(net, 2, 1), "node 2 still reaches node 1 through a cut link"
    assert reaches(net, 3, 1), "cutting 1-2 cut 1-3"
    assert reaches(net, None, 1), "cutting 1-2 cut the runner off"
    assert set(net.cut_links) == {frozenset((1, 2))}

    net.heal_all()
    assert reaches(net, 2, 1)
    assert not net.cut_links

    net.isolate(1)
    assert not reaches(net, 2, 1) and not reaches(net, 3, 1) and reaches(net, None, 1)
    net.heal_all()
    assert reaches(net, 2, 1) and reaches(net, 3, 1)

    # Two faults cutting 1-2: it heals when both have uncut it, and only then.
    first, second = net.isolate(1), net.partition({1, 3})
    assert not reaches(net, 2, 1) and not reaches(net, 3, 1)
    for a, b in first:
        net.uncut(a, b)
    assert not reaches(net, 2, 1), "1-2 healed while the second fault still cuts it"
    assert reaches(net, 3, 1), "1-3 is cut by the first fault only"
    for a, b in second:
        net.uncut(a, b)
    assert reaches(net, 2, 1) and not net.cut_links


def test_remove_deletes_namespaces_bridge_and_forward_rule():
    reason = unavailable()
    if reason:
        pytest.skip(reason)
    n = Network([1, 2, 3, 4, 5])
    try:
        n.create()
        n.partition({1, 2})
        assert len(n.cut_links) == 6
        assert set(n.namespaces.values()) <= set(run("ip", "netns", "list").stdout.split())
    finally:
        n.remove()
    assert not set(n.namespaces.values()) & set(run("ip", "netns", "list").stdout.split())
    assert run("ip", "link", "show", n.bridge, check=False).returncode != 0
    assert n.bridge not in run("iptables", "-w", "-S", "FORWARD").stdout


def test_remove_stale_deletes_what_a_killed_run_left_and_spares_a_live_one():
    reason = unavailable()
    if reason:
        pytest.skip(reason)
    left, live = Network([1, 2]), Network([1, 2])
    sleeper = None
    try:
        left.create()  # and never removed, as after a SIGKILL of the runner
        live.create()
        sleeper = subprocess.Popen(["ip", "netns", "exec", live.namespaces[1], "sleep", "60"])
        for _ in range(50):
            if run("ip", "netns", "pids", live.namespaces[1]).stdout.strip():
                break
        removed = remove_stale()
        assert set(left.namespaces.values()) | {left.bridge} <= set(removed)
        namespaces = set(run("ip", "netns", "list").stdout.split())
        assert not set(left.namespaces.values()) & namespaces
        # Node 2 of the live run has no process (as while a killed node is down): spared all the same.
        assert set(live.namespaces.values()) <= namespaces and live.bridge not in removed
        assert run("ip", "link", "show", left.bridge, check=False).returncode != 0
        assert left.bridge not in run("iptables", "-w", "-S", "FORWARD").stdout
    finally:
        if sleeper is not None:
            sleeper.kill()
            sleeper.wait(timeout=10)
        live.remove()
        left.remove()
