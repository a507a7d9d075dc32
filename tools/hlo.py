"""The collective (communication) ops in a compiled program's HLO text: what tools.bench reports
for the sharded train chunk, and what tests/sharded_check.py checks.

  hlo = jitted.lower(*args).compile().as_text()
  collectives(hlo)   one entry per op: {"op", "arrays", "bytes"}
  totals(hlo)        {op: {"count", "bytes"}} for every op kind, plus "total"
"""

from __future__ import annotations

import math
import re

COLLECTIVE_OPS = ("all-reduce", "all-gather", "all-to-all", "reduce-scatter", "collective-permute")
# `%name = TYPE opcode(` where TYPE is one array shape or a tuple of them.
_INSTRUCTION = re.compile(r"^\s*(?:ROOT\s+)?%?[\w.\-]+\s*=\s*(?P<type>\(.*?\)|[\w]+\[[^\]]*\](?:\{[^}]*\})?)"
                          r"\s+(?P<op>[a-z][\w\-]*)\(")
_ARRAY = re.compile(r"\b(?P<dtype>[a-z]+\d*(?:e\d+m\d+\w*)?)\[(?P<dims>[\d,\s]*)\]")
_DTYPE_BYTES = {
    "pred": 1, "s2": 0.25, "u2": 0.25, "s4": 0.5, "u4": 0.5, "s8": 1, "u8": 1, "s16": 2, "u16": 2, "f16": 2,
    "bf16": 2, "s32": 4, "u32": 4, "f32": 4, "s64": 8, "u64": 8, "f64": 8, "c64": 8, "c128": 16, "token": 0,
}


def collectives(hlo_text: str) -> list[dict]:
  """The communication ops of a compiled program's HLO text (`jitted.lower(...).compile()
  .as_text()`), one entry per op: {"op", "arrays" (its result arrays, e.g. "f32[128, 64]"),
  "bytes" (their size per device)}. An op may move a tuple of arrays (XLA fuses, e.g., all the
  gradient all-reduces into one). An asynchronous pair (`all-reduce-start` / `-done`) counts
  once, at `-done`, whose result is the op's output. Counts are static: an op inside a while
  loop (a scanned train chunk) appears once, i.e. per step."""
  ops = []
  for line in hlo_text.splitlines():
    m = _INSTRUCTION.match(line)
    if not m or m.group("op").endswith("-start"):
      continue
    op = m.group("op").removesuffix("-done")
    if op not in COLLECTIVE_OPS:
      continue
    arrays, nbytes = [], 0.0
    for a in _ARRAY.finditer(m.group("type")):
      dtype = a.group("dtype")
      size = _DTYPE_BYTES.get(dtype, 1 if dtype.startswith("f8") else None)
      if size is None:
        continue
      dims = [int(d) for d in a.group("dims").replace(" ", "").split(",") if d]
      arrays.append(f"{dtype}{dims}")
      nbytes += size * math.prod(dims)
    ops.append({"op": op, "arrays": arrays, "bytes": int(math.ceil(nbytes))})
  return ops


def totals(hlo_text: str) -> dict:
  """`{op: {"count", "bytes"}}` for every collective op kind, plus `"total"`."""
  out = {op: {"count": 0, "bytes": 0} for op in COLLECTIVE_OPS}
  for o in collectives(hlo_text):
    out[o["op"]]["count"] += 1
    out[o["op"]]["bytes"] += o["bytes"]
  out["total"] = {"count": sum(v["count"] for v in out.values()), "bytes": sum(v["bytes"] for v in out.values())}
  return out
