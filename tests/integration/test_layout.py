"""
test_layout.py - the house rules of the source tree, checked on the tree and
on the objects of the build under test.

- Floors: a folder includes only its own headers and those of the floors
  below it (doc/ARCHITECTURE.md).  The makefile's per-folder include paths
  already make such an include fail to build; this test holds the makefile
  to the same table, so widening an include path is noticed too.
- No circle of calls between files: from the symbols each object defines and
  uses (nm), the graph "file A calls file B" has no cycle.
- Binaries take only what they use: ringbench and hookbench are much smaller
  than hookd.
"""

import os
import re
import subprocess

import harness

# folder -> the folders whose headers it may include (besides its own).
ROLE_FLOORS = ("server/child", "server/conf", "shm", "common")
FLOORS = {
    "common": (),
    "shm": ("common",),
    "server/conf": ("common",),
    "server/child": ("server/conf", "shm", "common"),
    "server/master": ROLE_FLOORS,
    "server/stats": ROLE_FLOORS,
    "server/ctl": ("server/conf", "shm", "common"),
    "worker/ingest": ROLE_FLOORS,
    "worker/delivery": ROLE_FLOORS,
}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def _sources():
    """{folder: [file names]} of the C sources and headers of each folder."""
    out = {}
    for folder in FLOORS:
        path = os.path.join(harness.REPO, folder)
        out[folder] = sorted(f for f in os.listdir(path)
                             if f.endswith((".c", ".h")))
    return out


def test_file_names_are_unique_across_folders():
    seen = {}
    for folder, files in _sources().items():
        for f in files:
            assert f not in seen, f"{f} is in {seen.get(f)} and {folder}"
            seen[f] = folder


def test_every_include_stays_on_its_floor_or_below():
    sources = _sources()
    home = {f: folder for folder, files in sources.items() for f in files}
    wrong = []
    for folder, files in sources.items():
        allowed = {folder, *FLOORS[folder]}
        for f in files:
            with open(os.path.join(harness.REPO, folder, f)) as fh:
                text = fh.read()
            for inc in INCLUDE.findall(text):
                where = home.get(inc)
                if where is not None and where not in allowed:
                    wrong.append(f"{folder}/{f} includes {where}/{inc}")
    assert not wrong, "includes that climb or cross a floor:\n" + "\n".join(wrong)


def test_makefile_include_paths_match_the_floors():
    with open(os.path.join(harness.REPO, "GNUmakefile")) as fh:
        text = fh.read().replace("\\\n", " ")
    variables = dict(re.findall(r"^([A-Za-z_/]+)\s*:=\s*(.*)$", text, re.M))

    def expand(v):
        return re.sub(r"\$\(([A-Za-z_/]+)\)", lambda m: expand(variables[m.group(1)]), v)

    for folder, below in FLOORS.items():
        paths = set(expand(variables["FLOOR_" + folder]).split())
        assert paths == {folder, *below}, (folder, sorted(paths))


def _objects():
    """{file stem: (defined symbols, used symbols)} of the build under test."""
    # The objects beside the binaries under test: bin/ is the release
    # build's, build/asan/bin/ the sanitizer build's (test_enqueue_c.py
    # picks its build the same way).
    build = "build/asan" if "asan" in harness.bin_dir() else "build/release"
    build = os.path.join(harness.REPO, build)
    objs = {}
    for folder, files in _sources().items():
        for f in files:
            if f.endswith(".c"):
                objs[f"{folder}/{f[:-2]}"] = os.path.join(build, folder, f[:-2] + ".o")
    assert len(objs) > 40, f"too few objects under {build}: build first"
    out = {}
    for name, path in objs.items():
        nm = subprocess.run(["nm", "-P", path], capture_output=True, text=True,
                            check=True).stdout
        defined, used = set(), set()
        for line in nm.splitlines():
            parts = line.split()
            if len(parts) < 2:
                continue
            sym, kind = parts[0], parts[1]
            if kind == "U":
                used.add(sym)
            elif kind in "TDBRCV":
                defined.add(sym)
        out[name] = (defined, used)
    return out


def _cycles(graph):
    """The strongly connected components of more than one node (Tarjan)."""
    index, low, stack, on, sccs = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sccs


def test_no_circle_of_calls_between_files():
    objs = _objects()
    owner = {}
    for name, (defined, _) in objs.items():
        for sym in defined:
            owner[sym] = name
    graph = {name: {owner[s] for s in used if s in owner and owner[s] != name}
             for name, (_, used) in objs.items()}
    cycles = _cycles(graph)
    detail = []
    for comp in cycles:
        for a in comp:
            for b in sorted(graph[a] & set(comp)):
                syms = sorted(s for s in objs[a][1] if owner.get(s) == b)
                detail.append(f"  {a} -> {b}: {', '.join(syms[:4])}")
    assert not cycles, "files that call each other in a circle:\n" + \
        "\n".join(" <-> ".join(c) for c in cycles) + "\n" + "\n".join(detail)


def test_tools_take_only_what_they_use():
    d = harness.bin_dir()
    hookd = os.path.getsize(os.path.join(d, "hookd"))
    for tool in ("ringbench", "hookbench"):
        size = os.path.getsize(os.path.join(d, tool))
        assert size * 3 < hookd, f"{tool} is {size} bytes, hookd {hookd}"
