#!/usr/bin/env python3
"""Checks that imports between the top-level rooms of `src/` run one way, from a higher layer
down to a lower one (issue 24).

Every path into another room counts as an edge, wherever it appears in the code: `use crate::a::…`
(also inside `use crate::{a::…, b::…}` groups), a path `crate::a::…` in an expression or type, and
a `super::…` chain that climbs out of its own room. Comments (and so doc links) are ignored.
A room is a top-level module: `src/<room>.rs` or `src/<room>/`.

An edge from room A to room B is allowed when B sits in a lower layer than A in `LAYERS`, or
when both sit in the same layer and the edge is in `SAME_LAYER`. Anything else fails unless it
is in `ALLOWED`, the back-up edges step 3 of issue 24 removes (each with its reason).

Usage: scripts/check_layers.py [--list]   (--list prints every edge with its first site)
"""

import pathlib
import re
import sys

# From the ground up; rooms in one layer may not import each other unless listed in SAME_LAYER.
# The models sit below `config`, which reads a config file into their parameters
# (`microcircuit::InstanceParams`, `gclusteron::GcParams`); `microcircuit/backend.rs` is the
# contract of the microcircuit's backends, inside its room.
LAYERS = [
    ["num", "seed", "pool", "atomic"],  # Real and Precision, seed derivation, threads, files
    ["checkpoint"],  # the checkpoint folder of a run (any model's states and progress)
    ["gpu"],  # what every model shares on a device
    ["tasks"],  # data sets, metrics
    ["microcircuit", "gclusteron"],  # one room per model, with all its backends
    ["config"],  # schema, validation, sweeps
    ["experiment"],  # the microcircuit's runner
    ["output"],  # tables, npz, shards
    ["run"],  # the one runner over every model (Model trait), and merge
    ["check", "bench"],  # cross-backend check, benchmarks
    ["plot"],
    ["validity"],  # runs experiments and draws their figures
    ["session"],  # the library entry point of a run (plain options), for the CLI and Python
    ["cli"],
]

SAME_LAYER = set()

# Edges that still run up a layer, each with the step of issue 24 that removes it.
ALLOWED = {
}

ROOT = pathlib.Path(__file__).resolve().parent.parent
SRC = ROOT / "src"


def strip_comments(text):
    """Removes `//` and `/* */` comments and the contents of string literals."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif c == "r" and re.match(r'r#*"', text[i:]) and not re.match(r"\w", text[i - 1]):
            m = re.match(r'r(#*)"', text[i:])
            end = '"' + m.group(1)
            j = text.find(end, i + len(m.group(0)))
            out.append('""')
            i = n if j < 0 else j + len(end)
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append('""')
            i = j + 1
        elif c == "'" and re.match(r"'(\\.|[^\\'])'", text[i:]):
            m = re.match(r"'(\\.|[^\\'])'", text[i:])
            out.append("' '")
            i += len(m.group(0))
        else:
            out.append(c)
            i += 1
    return "".join(out)


def module_path(path):
    """The module path of a source file below `src/`, e.g. ["gpu", "device"]."""
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "mod":
        parts.pop()
    return parts


def group_heads(text, start):
    """The first identifier of every item of the `{…}` group opening at `text[start]`."""
    depth, item, heads, i = 0, "", [], start
    while i < len(text):
        c = text[i]
        if c == "{":
            depth += 1
            if depth == 1:
                i += 1
                continue
        elif c == "}":
            depth -= 1
            if depth == 0:
                heads.append(item)
                break
        if depth == 1 and c == ",":
            heads.append(item)
            item = ""
        elif depth >= 1:
            item += c
        i += 1
    out = []
    for h in heads:
        m = re.match(r"\s*(\w+)", h)
        if m and m.group(1) != "self":
            out.append(m.group(1))
    return out


def edges_of(path):
    """(target room, line) of every path from this file into another room."""
    mod = module_path(path)
    room = mod[0]
    text = strip_comments(path.read_text())
    found = []

    def line(at):
        return text.count("\n", 0, at) + 1

    for m in re.finditer(r"\bcrate::", text):
        rest = m.end()
        if text.startswith("{", rest):
            found += [(t, line(m.start())) for t in group_heads(text, rest)]
        else:
            t = re.match(r"\w+", text[rest:])
            if t:
                found.append((t.group(0), line(m.start())))
    for m in re.finditer(r"\b((?:super::)+)", text):
        ups = m.group(1).count("super")
        # a file's own module is `mod`; `super` from `a/b.rs` is `a`
        if ups >= len(mod):
            rest = m.end()
            if text.startswith("{", rest):
                found += [(t, line(m.start())) for t in group_heads(text, rest)]
            else:
                t = re.match(r"\w+", text[rest:])
                if t:
                    found.append((t.group(0), line(m.start())))
    rooms = {p.stem if p.suffix == ".rs" else p.name for p in SRC.iterdir()}
    return [(room, t, n) for t, n in found if t != room and t in rooms]


def main():
    layer = {r: i for i, rooms in enumerate(LAYERS) for r in rooms}
    edges = {}
    for path in sorted(SRC.rglob("*.rs")):
        if path.parent == SRC and path.name in ("lib.rs", "main.rs"):
            continue
        for a, b, n in edges_of(path):
            edges.setdefault((a, b), f"{path.relative_to(ROOT)}:{n}")
    if "--list" in sys.argv:
        for (a, b), site in sorted(edges.items()):
            print(f"{a} -> {b}\t{site}")
    bad = []
    for (a, b), site in sorted(edges.items()):
        for r in (a, b):
            if r not in layer:
                bad.append(f"room {r} has no layer in scripts/check_layers.py ({site})")
        if a not in layer or b not in layer:
            continue
        down = layer[b] < layer[a] or (layer[a] == layer[b] and (a, b) in SAME_LAYER)
        if not down and (a, b) not in ALLOWED:
            bad.append(f"{a} -> {b} runs up a layer ({site})")
    for e in sorted(set(ALLOWED) - set(edges)):
        bad.append(f"allowed edge {e[0]} -> {e[1]} no longer exists: remove it from ALLOWED")
    for b in bad:
        print(b, file=sys.stderr)
    if bad:
        sys.exit(1)
    print(f"{len(edges)} edges between {len(layer)} rooms, all downward or allowed")


if __name__ == "__main__":
    main()
