#!/usr/bin/env python3
"""Import layers and cycles of the crates' modules, from their `use` edges.

    python3 .ci/check-layers.py [--edges] [CRATE_SRC_DIR ...]

Checks `kernels/src` and `src` by default; pass other crate source folders
(`capi/src`, ...) to check them too. Python 3 standard library only; reads
the sources as text, compiles nothing. Exit status 1 on any finding, with
each one named file by file; 0 when clean. `--edges` also prints every edge.

Nodes. One node per source file: `lib.rs` is the crate root (`crate`),
`a.rs` and `a/mod.rs` are module `a`, `a/b.rs` is `a::b`. Inline modules
(`mod tests { ... }`, `mod sealed { ... }`) belong to their file's node. A
module and its submodules in other files are separate nodes, so a parent
`mod.rs` that re-exports its children and a child that imports from its
parent form a cycle like any other.

Edges. An edge A -> B is a path in A's code that names an item of module B:
  - `use` declarations (every path of a use tree) whose first segment is
    `crate`, `super`, `self`, or a child module of the file's module;
  - paths in code starting with `crate::`, `$crate::`, `super::`, `self::`
    (a path in a `macro_rules!` body counts for the file that defines the
    macro: that file names the module, whoever expands it).
Comments (doc comments included) and string, char and byte literals are
blanked first. A path resolves to the longest prefix of it that is a
module file; when the segment after that prefix is a name that module
re-exports (`pub use x::Name;`, `pub use x::{self, Name as Other}`), the
path is followed to where the name comes from (so `crate::Float` in the
kernels crate is an edge to `float`, not to `lib.rs`). A name re-exported
from another crate (`pub use half::bf16`) is no edge. A name the root
defines itself, or one that cannot be followed (glob re-exports), stays an
edge to `crate`, the top layer. `super::` out of an inline module into its
own file is no edge. Edges from a file to itself are dropped.

Rules, both given as data in RULES below, per crate source folder:
  1. No cycles: every strongly connected component of more than one node is
     reported, with the shortest cycle through each of its edges (every
     such edge is on a cycle: cutting it may break some), each hop with the
     line that makes it.
  2. Layers, bottom to top, each a list of module path prefixes (`"a"`
     matches `a` and every `a::...`; `"crate"` is the crate root; the
     longest matching prefix decides). An edge from a module to one in a
     higher layer fails. Every module must be in a layer. A prefix that
     matches no module is reported as a note (a rule to update), not an
     error.
  3. Confined prefixes: modules under such a prefix may import only the
     layers and prefixes listed for it.
  4. ALLOWED_UP lists (from, to) module pairs whose upward edge is accepted,
     with the reason; it is empty.
A crate folder without rules is checked for cycles only.
"""

import re
import sys
from collections import deque
from pathlib import Path

# The layers of each crate, bottom first: (layer name, module path prefixes).
# A prefix that matches no module is only a note.
RULES = {
    "kernels/src": {
        "layers": [
            # The element types, the lane trait and the operands every body takes
            # (buffer sets, coefficients, the length-checked value).
            ("elements", ["float", "lanes", "narrow", "operands"]),
            # The specification, the generic bodies, the ISA tokens: side by side.
            ("bodies", ["spec", "generic", "arch"]),
            # The only code that names every algorithm and every tier.
            ("dispatch", ["dispatch"]),
            # The public surface: lib.rs.
            ("surface", ["crate"]),
        ],
        # A generic body imports the element types and lanes (and a sibling
        # body's lane arithmetic: mixed Adam reuses Adam's), nothing above;
        # the spec and the tokens likewise see only the bottom layer.
        "confined": {
            "generic": ["elements", "generic"],
            "spec": ["elements", "spec"],
            "arch": ["elements", "arch"],
        },
    },
    "src": {
        "layers": [
            # Errors, hyperparameter checks and per-step scalars, learning-rate schedules,
            # the span checks of a binding's foreign buffers.
            ("foundation", ["error", "hyper", "schedule", "foreign"]),
            # The threaded driver: threads, claims, pieces.
            ("parallel", ["parallel"]),
            # The descriptor trait, then one descriptor per algorithm: config,
            # validation, coefficients, state layout, checkpoint tag.
            ("descriptor", ["algorithms::descriptor"]),
            ("algorithms", ["algorithms"]),
            # The steps generic over the descriptors: stateless and multi-tensor, mixed, 8-bit, probe.
            # Clipping by global norm sits with them: the mixed step clips too.
            ("steps", ["step", "clip", "mixed", "quantized", "probe"]),
            # What owns state across steps: the optimizer and its checkpoints.
            ("owners", ["optimizer", "checkpoint"]),
            # The public surface: lib.rs.
            ("surface", ["crate"]),
        ],
        "confined": {},
    },
    "capi/src": {
        "layers": [
            # Status codes and the panic guard; pointer checks; the thread setting.
            ("foundation", ["status", "checks", "threads"]),
            # Clipping armed for the next step call, its report, the norm alone.
            ("clip", ["clip"]),
            # The one generic step, then the C configs it reads.
            ("step", ["many"]),
            ("configs", ["configs"]),
            # The named entry points.
            ("entry points", ["steps", "adaptive", "mixed", "quantized"]),
            # The public surface: lib.rs.
            ("surface", ["crate"]),
        ],
        "confined": {},
    },
}

# Upward edges accepted anyway: {crate folder: {(from, to): reason}}.
ALLOWED_UP = {}

DEFAULT_CRATES = ["kernels/src", "src", "capi/src"]

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def blank(text):
    """Comments and literals replaced by spaces; newlines kept (line numbers hold)."""
    out = []
    i, n = 0, len(text)

    def keep_lines(s):
        return "".join(c if c == "\n" else " " for c in s)

    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(keep_lines(text[i:j]))
            i = j
        elif (m := re.match(r'b?r(#*)"', text[i : i + 300])) and (i == 0 or not re.match(r"\w", text[i - 1])):
            end = '"' + m.group(1)
            j = text.find(end, i + m.end())
            j = n if j < 0 else j + len(end)
            out.append(keep_lines(text[i:j]))
            i = j
        elif c == '"' or (c == "b" and text.startswith('b"', i) and (i == 0 or not re.match(r"\w", text[i - 1]))):
            j = i + (2 if c == "b" else 1)
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(keep_lines(text[i:j]))
            i = j
        elif c == "'":
            # A char literal ('x', '\n', '\u{1F600}', b'x'), or a lifetime ('a).
            if text.startswith("\\", i + 1):
                j = text.find("'", i + 2)
                j = n if j < 0 else j + 1
            elif i + 2 < n and text[i + 2] == "'":
                j = i + 3
            else:
                out.append(c)
                i += 1
                continue
            out.append(" " * (j - i))
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def module_of(root, path):
    """Module path (tuple of names) of a source file; () is the crate root."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts in (["lib"], ["main"]):
        return ()
    if parts[-1] == "mod":
        parts = parts[:-1]
    return tuple(parts)


def name(module):
    return "::".join(module) if module else "crate"


def parse_use_tree(s):
    """Expands a use tree ("a::{b, c::{self, D as E}}") into (segments, alias) pairs."""
    tokens = re.findall(r"::|[{},*]|\$?" + IDENT, s)
    pos = 0

    def tree(prefix):
        nonlocal pos
        results = []
        segs = list(prefix)
        while pos < len(tokens):
            t = tokens[pos]
            if t == "{":
                pos += 1
                while pos < len(tokens) and tokens[pos] != "}":
                    results += tree(segs)
                    if pos < len(tokens) and tokens[pos] == ",":
                        pos += 1
                pos += 1
                return results
            if t == "*":
                pos += 1
                return results + [(segs + ["*"], None)]
            if t in (",", "}"):
                break
            if t == "::":
                pos += 1
                continue
            if t == "as":
                alias = tokens[pos + 1] if pos + 1 < len(tokens) else "_"
                pos += 2
                return results + [(segs, alias)]
            segs.append(t)
            pos += 1
        if segs != list(prefix):
            results.append((segs, None))
        return results

    return tree([])


class Crate:
    def __init__(self, root):
        self.root = Path(root)
        self.files = {}  # module -> path
        self.text = {}  # module -> blanked text
        for path in sorted(self.root.rglob("*.rs")):
            module = module_of(self.root, path)
            self.files[module] = path
            self.text[module] = blank(path.read_text(encoding="utf-8"))
        self.modules = set(self.files)
        # Names each file defines (a `use` of one of them is no other crate's).
        item = r"\b(?:fn|struct|enum|union|trait|type|const|static|mod|macro_rules!)\s+(" + IDENT + ")"
        self.local = {m: set(re.findall(item, t)) for m, t in self.text.items()}
        self.reexports = {m: {} for m in self.modules}  # module -> name -> segments or None (external)
        self.macros = {}  # exported macro name -> module
        self.raw_paths = {m: [] for m in self.modules}  # module -> [(line, absolute segments, text)]
        for module in sorted(self.modules):
            self.scan(module)
        self.edges = {}  # (from, to) -> (line, text) of the first occurrence
        for module in sorted(self.modules):
            for line, segs, text in self.raw_paths[module]:
                target = self.resolve(segs)
                if target is not None and target != module:
                    self.edges.setdefault((module, target), (line, text))

    def absolute(self, module, inline, segs, in_use):
        """Segments from the crate root, or None for an external or same-file path."""
        first = segs[0]
        if first in ("crate", "$crate"):
            return segs[1:]
        here = list(module) + inline
        if first == "self":
            return None if inline else list(module) + segs[1:]
        if first == "super":
            ups = 0
            while ups < len(segs) and segs[ups] == "super":
                ups += 1
            if ups <= len(inline):
                return None
            if ups - len(inline) > len(module):
                return None  # above the crate root: not valid Rust, no edge
            return here[: len(here) - ups] + segs[ups:]
        if in_use and not inline and tuple(module) + (first,) in self.modules:
            return list(module) + segs
        if in_use and not inline and first in self.local[module]:
            return list(module) + segs
        return None

    def scan(self, module):
        text = self.text[module]
        line_at = [0]
        for i, c in enumerate(text):
            if c == "\n":
                line_at.append(i + 1)

        def line(pos):
            lo, hi = 0, len(line_at)
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if line_at[mid] <= pos:
                    lo = mid
                else:
                    hi = mid
            return lo + 1

        # Inline modules: (name, start, end) spans, to know where `super` points.
        spans = []
        for m in re.finditer(r"\bmod\s+(" + IDENT + r")\s*\{", text):
            depth, j = 1, m.end()
            while j < len(text) and depth:
                depth += {"{": 1, "}": -1}.get(text[j], 0)
                j += 1
            spans.append((m.group(1), m.start(), j))

        def inline_at(pos):
            return [n for n, s, e in spans if s < pos < e]

        for m in re.finditer(r"#\[macro_export\][^\n]*\n\s*macro_rules!\s*(" + IDENT + ")", text):
            self.macros[m.group(1)] = module

        used = []
        for m in re.finditer(r"(?<![\w$])(pub(\s*\([^)]*\))?\s+)?use\s+([^;]*);", text):
            used.append((m.start(), m.end()))
            inline = inline_at(m.start())
            public = m.group(1) is not None
            for segs, alias in parse_use_tree(m.group(3)):
                if not segs:
                    continue
                if segs[0] == "::":
                    continue
                if segs[-1] == "self":
                    segs = segs[:-1]
                if not segs:
                    continue
                absolute = self.absolute(module, inline, segs, in_use=True)
                if public and not inline and segs[-1] != "*":
                    self.reexports[module][alias or segs[-1]] = absolute
                if absolute is not None:
                    if absolute and absolute[-1] == "*":
                        absolute = absolute[:-1]
                    self.raw_paths[module].append((line(m.start()), absolute, "use " + "::".join(segs)))

        path_re = re.compile(r"(?<![\w$])(\$crate|crate|super|self)((?:\s*::\s*(?:super|" + IDENT + r"))+)(\s*!)?")
        for m in path_re.finditer(text):
            if any(s <= m.start() < e for s, e in used):
                continue
            segs = [m.group(1)] + re.findall(IDENT, m.group(2))
            absolute = self.absolute(module, inline_at(m.start()), segs, in_use=False)
            if absolute is not None:
                self.raw_paths[module].append((line(m.start()), absolute, re.sub(r"\s+", "", m.group(0))))

    def resolve(self, segs, depth=0):
        """The module a path from the crate root lands in (None: another crate)."""
        k = max(k for k in range(len(segs) + 1) if tuple(segs[:k]) in self.modules or k == 0)
        module, rest = tuple(segs[:k]), segs[k:]
        if not rest or depth > 8:
            return module
        head = rest[0]
        if head in self.reexports.get(module, {}):
            target = self.reexports[module][head]
            if target is None:
                return None
            if target == segs:
                return module
            return self.resolve(list(target) + rest[1:], depth + 1)
        if module == () and head in self.macros:
            return self.macros[head]
        return module


def shortest_path(graph, start, goal, members):
    """Shortest path from `start` to `goal` inside `members` (list of nodes), or None."""
    prev = {start: None}
    queue = deque([start])
    while queue:
        u = queue.popleft()
        if u == goal:
            path = [u]
            while prev[path[-1]] is not None:
                path.append(prev[path[-1]])
            return list(reversed(path))
        for v in sorted(graph.get(u, ())):
            if v in members and v not in prev:
                prev[v] = u
                queue.append(v)
    return None


def components(graph, nodes):
    """Strongly connected components (Tarjan), each a sorted list."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
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
            out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def layer_of(layers, module):
    """(layer index, layer name, prefix) of the longest prefix matching `module`, or None."""
    best = None
    for i, (layer, prefixes) in enumerate(layers):
        for prefix in prefixes:
            p = () if prefix == "crate" else tuple(prefix.split("::"))
            matches = module == () if p == () else module[: len(p)] == p
            if matches and (best is None or len(p) > len(best[2])):
                best = (i, layer, p)
    return best


def check(folder, show_edges):
    crate = Crate(folder)

    def rel(module):
        return str(crate.files[module])

    graph = {}
    for a, b in crate.edges:
        graph.setdefault(a, set()).add(b)
    findings = []
    print(f"{folder}: {len(crate.modules)} modules, {len(crate.edges)} edges")
    if show_edges:
        for (a, b), (line, text) in sorted(crate.edges.items()):
            print(f"  edge {name(a)} -> {name(b)}    {rel(a)}:{line}: {text}")

    # 1. Cycles.
    for comp in components(graph, crate.modules):
        if len(comp) < 2:
            continue
        members = set(comp)
        findings.append(f"import cycle among {len(comp)} modules: " + ", ".join(rel(m) for m in comp))
        seen = set()
        for a, b in sorted(e for e in crate.edges if e[0] in members and e[1] in members):
            back = shortest_path(graph, b, a, members)
            if not back:
                continue
            cycle = [a] + back
            key = frozenset(zip(cycle, cycle[1:]))
            if key in seen:
                continue
            seen.add(key)
            hops = [
                f"      {rel(a)}:{crate.edges[(a, b)][0]}: {crate.edges[(a, b)][1]}" for a, b in zip(cycle, cycle[1:])
            ]
            findings.append("  cycle: " + " -> ".join(rel(m) for m in cycle) + "\n" + "\n".join(hops))

    # 2-4. Layers.
    rules = RULES.get(folder.rstrip("/"))
    if rules is None:
        print(f"  (no layer rules for {folder}: cycles only)")
    else:
        layers = rules["layers"]
        allowed = ALLOWED_UP.get(folder.rstrip("/"), {})
        for module in sorted(crate.modules):
            if layer_of(layers, module) is None:
                findings.append(f"{rel(module)}: module `{name(module)}` is in no layer (add its prefix to RULES)")
        for layer, prefixes in layers:
            for prefix in prefixes:
                p = () if prefix == "crate" else tuple(prefix.split("::"))
                if not any(m[: len(p)] == p and (p or m == ()) for m in crate.modules):
                    print(f"  note: prefix `{prefix}` (layer {layer}) matches no module")
        for (a, b), (line, text) in sorted(crate.edges.items()):
            la, lb = layer_of(layers, a), layer_of(layers, b)
            if la is None or lb is None:
                continue
            if lb[0] > la[0] and (a, b) not in allowed:
                findings.append(f"edge up: {rel(a)}:{line} (layer {la[1]}) -> {rel(b)} (layer {lb[1]}): {text}")
            for prefix, permitted in rules.get("confined", {}).items():
                p = tuple(prefix.split("::"))
                if a[: len(p)] != p:
                    continue
                ok = lb[1] in permitted or any(b[: len(q)] == q for q in (tuple(x.split("::")) for x in permitted))
                if not ok:
                    findings.append(
                        f"confined: {rel(a)}:{line} under `{prefix}` imports {rel(b)} (layer {lb[1]}), "
                        f"only {', '.join(permitted)} allowed: {text}"
                    )
    for f in findings:
        print("  " + f)
    return len(findings)


def main(argv):
    show_edges = "--edges" in argv
    folders = [a for a in argv if a != "--edges"] or DEFAULT_CRATES
    if any(a.startswith("-") for a in folders):
        print(__doc__)
        return 2
    total = 0
    for folder in folders:
        if not Path(folder).is_dir():
            print(f"{folder}: not a folder")
            return 2
        total += check(folder, show_edges)
    if total:
        print(f"\n{total} finding(s): import cycles or edges against the layers (rules: .ci/check-layers.py, RULES)")
        return 1
    print("\nno import cycle, no edge against the layers")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
