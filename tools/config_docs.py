"""config/README.md from the workflow's config schema (workflow/schemas/config.schema.yaml).

Every key the schema allows gets one row: its dotted path (``<run>``-style placeholders for names the user
chooses, from the ``title`` of the schema entry), type, default, whether it is required, and the schema's
description. Run from anywhere::

    python tools/config_docs.py            # rewrite config/README.md
    python tools/config_docs.py --check    # exit 1, naming the keys, if the README and the schema disagree

Only PyYAML is needed.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
README = ROOT / "config" / "README.md"

INTRO = """\
# Workflow configuration

`config/config.yaml` is the workflow's config (the offline CPU demo) and DVC's params file. The other YAML
files here are complete configs of their own (`snakemake --configfile config/<name>.yaml` replaces the default),
except `demo_seeds.yaml`, an overlay given after `config.yaml`. Snakemake validates the config against
`workflow/schemas/config.schema.yaml` and fills in the defaults below; an unknown key is an error. Names in
angle brackets are yours to choose (`pretrain.<run>`: a run named `demo` is `pretrain.demo`).

This file is generated from the schema's descriptions by `python tools/config_docs.py` (the test
`tests/test_config_docs.py` fails when the two disagree): edit the schema, then rerun it.
"""

ROW = re.compile(r"^\| `([^`]+)` \|", re.M)


@dataclass(frozen=True)
class Key:
    """One config key: dotted path, type, default, required, description."""

    path: str
    type: str
    default: str
    required: bool
    description: str


def _resolve(node: dict, schema: dict) -> dict:
    """A schema entry with its ``$ref`` (``#/definitions/...``) merged in; the entry's own keywords win."""
    ref = node.get("$ref")
    if ref is None:
        return node
    target = schema
    for part in ref.removeprefix("#/").split("/"):
        target = target[part]
    return {**_resolve(target, schema), **{k: v for k, v in node.items() if k != "$ref"}}


def _type(node: dict) -> str:
    types = node.get("type", [])
    types = [types] if isinstance(types, str) else list(types)
    if "enum" in node:
        return "one of " + ", ".join(f"`{v}`" for v in node["enum"])
    names = []
    for t in types:
        if t == "array":
            items = node.get("items") or {}
            names.append(f"list of {_type(items)}" if items else "list")
        elif t == "object" and "properties" not in node and isinstance(node.get("additionalProperties"), dict):
            names.append("mapping")
        else:
            names.append(t)
    return " or ".join(names) or "any"


def _default(node: dict) -> str:
    if "default" not in node:
        return ""
    return f"`{json.dumps(node['default'])}`"


def schema_keys(schema: dict) -> list[Key]:
    """Every key of the schema, parents before their children, in the schema's order."""
    keys: list[Key] = []

    def walk(node: dict, prefix: str) -> None:
        node = _resolve(node, schema)
        required = set(node.get("required", []))
        for name, child in (node.get("properties") or {}).items():
            add(f"{prefix}{name}", child, name in required)
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):
            extra = _resolve(extra, schema)
            title = extra.get("title")
            if not title:
                raise ValueError(f"schema: the entries of '{prefix.rstrip('.') or '<top>'}' have no title "
                                 "(the placeholder name of their keys)")
            add(f"{prefix}<{title}>", extra, False)

    def add(path: str, node: dict, required: bool) -> None:
        node = _resolve(node, schema)
        description = " ".join(str(node.get("description", "")).split())
        if not description:
            raise ValueError(f"schema: key '{path}' has no description")
        keys.append(Key(path, _type(node), _default(node), required, description))
        walk(node, f"{path}.")

    walk(schema, "")
    return keys


def _markdown(text: str) -> str:
    """Text for a table cell: ``|`` escaped, and ``<`` outside code spans too (``<run>`` is no HTML tag)."""
    parts = text.replace("|", "\\|").split("`")
    return "`".join(part if i % 2 else part.replace("<", "\\<") for i, part in enumerate(parts))


def render(schema: dict) -> str:
    """The whole config/README.md."""
    lines = [INTRO, "| key | type | default | required | description |", "|:---|:---|:---|:---|:---|"]
    for key in schema_keys(schema):
        description = _markdown(key.description)
        lines.append(f"| `{key.path}` | {key.type} | {key.default} | {'yes' if key.required else ''} | "
                     f"{description} |")
    return "\n".join(lines) + "\n"


def documented_keys(readme: str) -> list[str]:
    """The keys a README's table describes."""
    return ROW.findall(readme)


def check(schema: dict, readme: str) -> list[str]:
    """Why the README is not the schema's documentation (empty when it is)."""
    expected = [k.path for k in schema_keys(schema)]
    documented = documented_keys(readme)
    problems = []
    missing = [k for k in expected if k not in documented]
    unknown = [k for k in documented if k not in expected]
    if missing:
        problems.append("it does not describe " + ", ".join(missing))
    if unknown:
        problems.append("it describes keys the schema does not have: " + ", ".join(unknown))
    if not problems and readme != render(schema):
        problems.append("its text differs from the schema's descriptions")
    return problems


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="compare instead of writing; exit 1 on a difference")
    p.add_argument("--schema", type=Path, default=SCHEMA)
    p.add_argument("--readme", type=Path, default=README)
    args = p.parse_args(argv)
    schema = yaml.safe_load(args.schema.read_text())
    try:
        text = render(schema)
    except ValueError as err:
        print(f"config_docs: {err}", file=sys.stderr)
        return 1
    if not args.check:
        args.readme.write_text(text)
        return 0
    readme = args.readme.read_text() if args.readme.is_file() else ""
    problems = check(schema, readme)
    if problems:
        print(f"config_docs: {args.readme} is not the schema's documentation: {'; '.join(problems)} "
              "(rewrite it with python tools/config_docs.py)", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
