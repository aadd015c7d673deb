#!/usr/bin/env python3
"""Write a variant of an experiment config: BASE with some keys set.

Usage: scripts/config_variant.py BASE.json OUT.json KEY=JSON...
A KEY may be dotted to reach into a block (protocol.epochs=10); a JSON value that does not
parse is taken as a string (name=experiment_b). Example:
  scripts/config_variant.py configs/mimic.json /tmp/a.json name=experiment_a protocol.epochs=40 'seeds=[0,1,2,3]'
"""
import json
import sys

base, out, assignments = sys.argv[1], sys.argv[2], sys.argv[3:]
c = json.load(open(base))
for assignment in assignments:
    key, sep, text = assignment.partition("=")
    if not sep:
        sys.exit(f"config_variant.py: {assignment!r} is not KEY=VALUE")
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = text
    *path, last = key.split(".")
    block = c
    for k in path:
        block = block.setdefault(k, {})
    block[last] = value
json.dump(c, open(out, "w"), indent=2)
