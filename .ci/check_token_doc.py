"""Runs the Python reference check embedded in docs/TOKEN.md.

It recomputes the golden vectors' tags with Python's own hmac module, so the format
description is checked independently of the Rust implementation.
"""
import re
import sys

text = open(sys.argv[1], encoding="utf-8").read()
blocks = re.findall(r"```python\n(.*?)```", text, re.S)
if not blocks:
    sys.exit("no python block found in " + sys.argv[1])
for block in blocks:
    exec(compile(block, sys.argv[1], "exec"), {})
print("token reference check: %d block(s) passed" % len(blocks))
