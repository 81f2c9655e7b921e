"""What ships to the instance is the code without what only a maintainer reads: user-data is small (AWS:
16 KB, with the user's CLOUD_STARTUP_SCRIPT inside), so the agent and the GPU runtime shim ship as one program
each without docstrings, comments and type annotations, and the boot script without its inner comments."""

from __future__ import annotations

import ast
import base64
import gzip
import re
from pathlib import Path


class _Unannotated(ast.NodeTransformer):
    """Drops type annotations: with ``from __future__ import annotations`` they are never evaluated, and
    nothing shipped reads them (no dataclass; shipped() refuses one)."""

    def visit_arg(self, node: ast.arg) -> ast.arg:
        node.annotation = None
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.FunctionDef:
        node.returns = None
        self.generic_visit(node)
        return node

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.stmt:
        if node.value is None:
            return ast.copy_location(ast.Pass(), node)
        return ast.copy_location(ast.Assign(targets=[node.target], value=node.value), node)

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.ClassDef:
        if any("dataclass" in ast.unparse(d) for d in node.decorator_list):
            raise ValueError(f"class {node.name}: a dataclass needs its annotations; it cannot be shipped")
        self.generic_visit(node)
        return node


def shipped(*sources: Path) -> str:
    """Modules of this package as one program for the VM or the pod: the same code without docstrings,
    comments and annotations, in the order given. A later module's ``from pipe.bootstrap.x import ...``
    of an earlier one is dropped (the names are defined above it; a name that is not is a ValueError), one
    ``from __future__`` import leads, and only the last module's ``if __name__ == "__main__"`` is kept."""
    future: list[ast.stmt] = []
    body: list[ast.stmt] = []
    defined: set[str] = set()
    for index, source in enumerate(sources):
        tree = _Unannotated().visit(ast.parse(source.read_text()))
        for node in ast.walk(tree):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef) and node.body:
                first = node.body[0]
                if isinstance(first, ast.Expr) and isinstance(getattr(first.value, "value", None), str):
                    node.body = node.body[1:] or [ast.Pass()]
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.module == "__future__":
                future = future or [node]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pipe."):
                missing = [alias.name for alias in node.names if alias.name not in defined]
                if missing:
                    what = ", ".join(missing)
                    raise ValueError(f"{source.name} imports {what} from {node.module}, which is not shipped before it")
            elif index < len(sources) - 1 and _is_main_guard(node):
                continue
            else:
                defined |= _top_level_names(node)
                body.append(node)
    names = ", ".join(f"pipe/bootstrap/{source.name}" for source in sources)
    program = ast.unparse(ast.fix_missing_locations(ast.Module(body=future + body, type_ignores=[])))
    return f"#!/usr/bin/env python3\n# cml-runner ({names})\n" + program + "\n"


def _is_main_guard(node: ast.stmt) -> bool:
    return isinstance(node, ast.If) and ast.unparse(node.test).replace("'", '"') == '__name__ == "__main__"'


def _top_level_names(node: ast.stmt) -> set[str]:
    if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
        return {node.name}
    if isinstance(node, ast.Assign | ast.AnnAssign):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return {t.id for t in targets if isinstance(t, ast.Name)}
    return set()


def packed(text: str) -> str:
    """gzip + base64 in 76-character lines, for a quoted heredoc of the script."""
    b64 = base64.b64encode(gzip.compress(text.encode(), 9, mtime=0)).decode()
    return "\n".join(b64[i : i + 76] for i in range(0, len(b64), 76))


_HEREDOC = re.compile(r"<<-?'?([A-Za-z_]\w*)'?")


def without_comments(script: str) -> str:
    """The boot script's template as shipped: its opening comment block (what the script is, that it holds a
    secret) is kept, its other comment lines are dropped. Heredoc bodies are copied untouched."""
    kept: list[str] = []
    heredoc_end = ""
    opening = True
    for line in script.splitlines(keepends=True):
        text = line.strip()
        if heredoc_end:
            heredoc_end = "" if text == heredoc_end else heredoc_end
        else:
            opening = opening and text.startswith("#")
            if text.startswith("#") and not opening:
                continue
            heredoc = _HEREDOC.search(line)
            heredoc_end = heredoc.group(1) if heredoc else ""
        kept.append(line)
    return "".join(kept)
