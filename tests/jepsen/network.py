"""N network namespaces on one bridge, with links between nodes cut and healed one by one.

Node i lives in namespace `strom-jep-<tag>-i` at 10.A.B.i; the bridge, in the runner's namespace,
is 10.A.B.254, so the runner's clients reach every node whatever is cut. A cut link a-b is a pair
of iptables DROP rules in each of the two namespaces (INPUT from the other, OUTPUT to it): packets
vanish, as when a cable or switch fails, and only timeouts tell. The namespaces are ours alone, so
healing everything is flushing their INPUT and OUTPUT chains. Names carry a random suffix;
remove() undoes everything create() did, in reverse, even after a partial create.
(tests/compat/test_cluster.py's Network is the three-node, isolate-one form of this.)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid


class NetworkFailed(RuntimeError):
    pass


def run(*cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(cmd), capture_output=True, text=True, timeout=30)
    if check and proc.returncode != 0:
        raise NetworkFailed(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.strip()}")
    return proc


def unavailable() -> str | None:
    """Why namespaces and iptables cannot be used here, or None."""
    if os.geteuid() != 0:
        return "needs root (ip netns, veth, a bridge, iptables)"
    for tool in ("ip", "iptables"):
        if not shutil.which(tool):
            return f"needs `{tool}` (scripts/install-deps installs iproute2 and iptables)"
    probe = f"strom-probe-{uuid.uuid4().hex[:6]}"
    made = run("ip", "netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"`ip netns add` failed: {made.stderr.strip()}"
    run("ip", "netns", "del", probe, check=False)
    return None


def remove_stale() -> list[str]:
    """Delete what runs killed with SIGKILL left behind: the `strom-jep-<tag>-*` namespaces of a tag
    none of whose namespaces holds a process (a live run's killed node leaves one empty for a while),
    the `sj<tag>` bridges of no live tag, and their FORWARD rules; the names removed."""
    removed = []
    by_tag: dict[str, list[str]] = {}
    for ns in run("ip", "netns", "list").stdout.split():
        if ns.startswith("strom-jep-"):
            by_tag.setdefault(ns.split("-")[2], []).append(ns)
    live_tags = set()
    for tag, namespaces in by_tag.items():
        if any(run("ip", "netns", "pids", ns, check=False).stdout.strip() for ns in namespaces):
            live_tags.add(tag)
            continue
        for ns in namespaces:
            run("ip", "netns", "del", ns, check=False)
            removed.append(ns)
    iptables = shutil.which("iptables") or "iptables"
    for line in run("ip", "-o", "link", "show", "type", "bridge").stdout.splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        if name.startswith("sj") and len(name) == 8 and name[2:] not in live_tags:
            for port in run("ip", "-o", "link", "show", "master", name, check=False).stdout.splitlines():
                run("ip", "link", "del", port.split(":")[1].strip().split("@")[0], check=False)
            run("ip", "link", "del", name, check=False)
            while run(iptables, "-w", "-D", "FORWARD", "-i", name, "-o", name, "-j", "ACCEPT",
                      check=False).returncode == 0:
                pass
            removed.append(name)
    return removed


class Network:
    def __init__(self, node_ids: list[int]) -> None:
        self.node_ids = sorted(node_ids)
        tag = uuid.uuid4().hex[:6]
        used = run("ip", "-4", "-o", "addr").stdout
        for _ in range(100):
            a, b = 200 + uuid.uuid4().int % 50, uuid.uuid4().int % 250
            if f" 10.{a}.{b}." not in used:
                break
        self.prefix = f"10.{a}.{b}"
        self.bridge = f"sj{tag}"
        self.namespaces = {i: f"strom-jep-{tag}-{i}" for i in self.node_ids}
        self.ips = {i: f"{self.prefix}.{i}" for i in self.node_ids}
        self.iptables = shutil.which("iptables") or "iptables"
        self.forward_rule = ["FORWARD", "-i", self.bridge, "-o", self.bridge, "-j", "ACCEPT"]
        self.created: list[tuple[str, ...]] = []  # undo commands, run in reverse
        self.cut_links: dict[frozenset[int], int] = {}  # link -> how many faults cut it

    def create(self) -> None:
        run("ip", "link", "add", self.bridge, "type", "bridge")
        self.created.append(("ip", "link", "del", self.bridge))
        run("ip", "addr", "add", f"{self.prefix}.254/24", "dev", self.bridge)
        run("ip", "link", "set", self.bridge, "up")
        # A host whose FORWARD policy drops (Docker's) would drop bridged packets.
        run(self.iptables, "-w", "-I", *self.forward_rule)
        self.created.append((self.iptables, "-w", "-D", *self.forward_rule))
        for i, ns in self.namespaces.items():
            run("ip", "netns", "add", ns)
            self.created.append(("ip", "netns", "del", ns))
            host_end, ns_end = f"{self.bridge}h{i}", f"{self.bridge}n{i}"
            run("ip", "link", "add", host_end, "type", "veth", "peer", "name", ns_end, "netns", ns)
            # Deleting a namespace leaves its veth pair behind while the kernel still holds sockets of it.
            self.created.append(("ip", "link", "del", host_end))
            run("ip", "link", "set", host_end, "master", self.bridge, "up")
            run("ip", "-n", ns, "link", "set", "lo", "up")
            run("ip", "-n", ns, "addr", "add", f"{self.ips[i]}/24", "dev", ns_end)
            run("ip", "-n", ns, "link", "set", ns_end, "up")

    def _rules(self, node: int, other: int, op: str) -> None:
        ns = ["ip", "netns", "exec", self.namespaces[node], self.iptables, "-w"]
        run(*ns, op, "INPUT", "-s", self.ips[other], "-j", "DROP")
        run(*ns, op, "OUTPUT", "-d", self.ips[other], "-j", "DROP")

    def cut(self, a: int, b: int) -> None:
        """Cut the link between nodes a and b, both ways. Links are counted: two faults may cut the
        same link, and it heals when both have uncut it."""
        link = frozenset((a, b))
        if a == b:
            return
        self.cut_links[link] = self.cut_links.get(link, 0) + 1
        if self.cut_links[link] == 1:
            self._rules(a, b, "-A")
            self._rules(b, a, "-A")

    def uncut(self, a: int, b: int) -> None:
        link = frozenset((a, b))
        if link not in self.cut_links:
            return
        self.cut_links[link] -= 1
        if self.cut_links[link] == 0:
            del self.cut_links[link]
            self._rules(a, b, "-D")
            self._rules(b, a, "-D")

    def partition(self, side: set[int]) -> list[tuple[int, int]]:
        """Cut every link between `side` and the other nodes; the links cut."""
        links = [(a, b) for a in sorted(side) for b in self.node_ids if b not in side]
        for a, b in links:
            self.cut(a, b)
        return links

    def isolate(self, node: int) -> list[tuple[int, int]]:
        return self.partition({node})

    def heal_all(self) -> None:
        for ns in self.namespaces.values():
            for chain in ("INPUT", "OUTPUT"):
                run("ip", "netns", "exec", ns, self.iptables, "-w", "-F", chain, check=False)
        self.cut_links.clear()

    def remove(self) -> None:
        for cmd in reversed(self.created):
            run(*cmd, check=False)
        self.created.clear()
        self.cut_links.clear()
