"""A small Bicep reader on tree-sitter's Bicep grammar: syntax errors, names used but never
declared, module parameters and outputs that do not exist, and the values tests look at
(app settings, outputs, string arrays). Every problem names the file and line."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import tree_sitter_bicep
from tree_sitter import Language, Node, Parser

PARSER = Parser(Language(tree_sitter_bicep.language()))
# Namespaces and names Bicep itself provides (functions are call targets and need no entry).
BUILT_INS = {"az", "sys", "true", "false", "null"}
DECLARATIONS = {
    "parameter_declaration": "param",
    "variable_declaration": "var",
    "resource_declaration": "resource",
    "module_declaration": "module",
    "output_declaration": "output",
    "type_declaration": "type",
    "user_defined_function": "func",
}


@dataclass(frozen=True)
class Problem:
    file: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


@dataclass
class BicepFile:
    path: Path
    source: bytes
    root: Node
    declared: dict[str, tuple[str, Node]] = field(default_factory=dict)  # name → (kind, node)
    outputs: dict[str, Node] = field(default_factory=dict)  # their own namespace

    @classmethod
    def load(cls, path: Path) -> BicepFile:
        source = path.read_bytes()
        root = PARSER.parse(source).root_node
        f = cls(path, source, root)
        for node in root.named_children:
            kind = DECLARATIONS.get(node.type)
            name = _first(node, "identifier")
            if kind == "output" and name is not None:
                f.outputs[f.text(name)] = node
            elif kind and name is not None:
                f.declared[f.text(name)] = (kind, node)
        return f

    def text(self, node: Node) -> str:
        return self.source[node.start_byte : node.end_byte].decode("utf-8")

    def of_kind(self, kind: str) -> dict[str, Node]:
        return {n: node for n, (k, node) in self.declared.items() if k == kind}

    def params(self) -> dict[str, bool]:
        """Parameter name → whether it has a default."""
        return {
            name: any(c.type == "=" for c in node.children)
            for name, node in self.of_kind("param").items()
        }

    def resources_of_type(self, type_prefix: str) -> list[Node]:
        found = []
        for node in self.of_kind("resource").values():
            kind = _first(node, "string")
            if kind is not None and self.string(kind).split("@")[0] == type_prefix:
                found.append(node)
        return found

    def string(self, node: Node) -> str:
        """A string literal's text (interpolations kept as written)."""
        return self.text(node)[1:-1] if node.type == "string" else self.text(node)

    def body(self, declaration: Node) -> Node | None:
        """The object a resource or module declaration assigns (through `if` / `for`)."""
        value = declaration.named_children[-1]
        while value.type in ("if_statement", "for_statement"):
            value = value.named_children[-1]
        return value if value.type == "object" else None

    def line(self, node: Node) -> int:
        return node.start_point[0] + 1


def properties(f: BicepFile, obj: Node | None) -> dict[str, Node]:
    """An object literal's properties: key → value node."""
    found: dict[str, Node] = {}
    for prop in obj.named_children if obj is not None else []:
        if prop.type == "object_property" and len(prop.named_children) >= 2:
            key, value = prop.named_children[0], prop.named_children[-1]
            found[f.string(key)] = value
    return found


def at(f: BicepFile, obj: Node | None, *path: str) -> Node | None:
    node = obj
    for key in path:
        if node is None or node.type != "object":
            return None
        node = properties(f, node).get(key)
    return node


def problems(path: Path, files: dict[Path, BicepFile] | None = None) -> list[Problem]:
    """Everything wrong with one file (and the modules it calls, as seen from it)."""
    files = {} if files is None else files
    f = files.setdefault(path, BicepFile.load(path))
    found = [Problem(path, f.line(n), f"syntax error near {f.text(n)[:40]!r}") for n in _errors(f)]
    for node, name in _references(f, f.root, frozenset()):
        if name not in f.declared and name not in BUILT_INS:
            found.append(Problem(path, f.line(node), f"'{name}' is not declared"))
    for name, (kind, node) in f.declared.items():
        if kind in ("param", "var") and not _used(f, name):
            found.append(Problem(path, f.line(node), f"{kind} '{name}' is never used"))
    for name, node in f.of_kind("module").items():
        found += _module_problems(f, name, node, files)
    return found


def _module_problems(
    f: BicepFile, name: str, node: Node, files: dict[Path, BicepFile]
) -> list[Problem]:
    source = _first(node, "string")
    if source is None:
        return [Problem(f.path, f.line(node), f"module '{name}' has no source")]
    target = (f.path.parent / f.string(source)).resolve()
    if not target.is_file():
        return [Problem(f.path, f.line(node), f"module '{name}': {f.string(source)} not found")]
    module = files.setdefault(target, BicepFile.load(target))
    declared = module.params()
    passed = properties(f, at(f, f.body(node), "params"))
    found = [
        Problem(f.path, f.line(value), f"module '{name}': {target.name} has no param '{p}'")
        for p, value in passed.items()
        if p not in declared
    ]
    found += [
        Problem(f.path, f.line(node), f"module '{name}': required param '{p}' is not passed")
        for p, has_default in declared.items()
        if not has_default and p not in passed
    ]
    outputs = module.outputs
    for use in _walk(f.root):
        # <module>.outputs.<name>
        if use.type != "member_expression":
            continue
        inner = use.child_by_field_name("object")
        prop = use.child_by_field_name("property")
        if (
            inner is not None
            and prop is not None
            and inner.type == "member_expression"
            and f.text(inner) == f"{name}.outputs"
            and f.text(prop) not in outputs
        ):
            found.append(
                Problem(
                    f.path,
                    f.line(use),
                    f"module '{name}': {target.name} has no output '{f.text(prop)}'",
                )
            )
    return found


def _errors(f: BicepFile) -> Iterator[Node]:
    for node in _walk(f.root):
        if node.type == "ERROR" or node.is_missing:
            yield node


def _walk(node: Node) -> Iterator[Node]:
    yield node
    for child in node.children:
        yield from _walk(child)


def _first(node: Node, type_: str) -> Node | None:
    return next((c for c in node.named_children if c.type == type_), None)


def _references(  # noqa: C901 - one branch per kind of Bicep node, clearer read side by side
    f: BicepFile, node: Node, local: frozenset[str]
) -> Iterator[tuple[Node, str]]:
    """Identifiers used as values: not declared names, property keys, function names or
    loop and lambda variables."""
    if node.type in DECLARATIONS:
        children = node.named_children[1:]  # the first is the declared name
    elif node.type == "object_property":
        children = node.named_children[1:]  # the first is the key
        key = node.named_children[0]
        if key.type == "string":
            children = [key, *children]  # an interpolated key uses names
    elif node.type == "call_expression":
        children = [c for c in node.named_children if c != node.child_by_field_name("function")]
        function = node.child_by_field_name("function")
        if function is not None and function.type == "member_expression":
            children.append(function)  # resource.listKeys() uses `resource`
    elif node.type == "member_expression":
        children = [c for c in [node.child_by_field_name("object")] if c is not None]
    elif node.type == "for_statement":
        initializer = node.child_by_field_name("initializer")
        names = _names_in(f, initializer)
        rest = [c for c in node.named_children if c != initializer]
        # the collection (first after the initializer) is evaluated outside the loop
        yield from _references(f, rest[0], local)
        for c in rest[1:]:
            yield from _references(f, c, local | names)
        return
    elif node.type == "lambda_expression":
        params, body = node.named_children[0], node.named_children[-1]
        yield from _references(f, body, local | _names_in(f, params))
        return
    elif node.type == "identifier":
        name = f.text(node)
        if name not in local:
            yield node, name
        return
    else:
        children = node.named_children
    for child in children:
        yield from _references(f, child, local)


def _names_in(f: BicepFile, node: Node | None) -> frozenset[str]:
    if node is None:
        return frozenset()
    return frozenset(f.text(n) for n in _walk(node) if n.type == "identifier")


def _used(f: BicepFile, name: str) -> bool:
    return any(n == name for _, n in _references(f, f.root, frozenset()))


def app_settings(f: BicepFile) -> dict[str, Node]:
    """The function app's `siteConfig.appSettings` names → value nodes."""
    found: dict[str, Node] = {}
    for site in f.resources_of_type("Microsoft.Web/sites"):
        settings = at(f, f.body(site), "properties", "siteConfig", "appSettings")
        for item in settings.named_children if settings is not None else []:
            if item.type == "comment":
                continue
            name = at(f, item, "name")
            if name is None or name.type != "string":
                raise AssertionError(
                    f"{f.path}:{f.line(item)}: an app setting name is not a literal"
                )
            found[f.string(name)] = properties(f, item)["value"]
    return found


def string_array(f: BicepFile, node: Node) -> list[str]:
    """The strings of an array literal (e.g. a join([...]) argument)."""
    return [f.string(c) for c in node.named_children if c.type == "string"]
