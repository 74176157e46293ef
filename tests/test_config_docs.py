"""config/README.md documents every key of the workflow config: it is what tools/config_docs.py writes from
workflow/schemas/config.schema.yaml, and the check names a key the README lacks or a key the schema lacks (the
real script on the real files, and on edited copies of them)."""

import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
README = ROOT / "config" / "README.md"


def _docs(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "tools" / "config_docs.py"), *args], capture_output=True,
                          text=True, timeout=60)


def _rows(readme: str) -> list[str]:
    return re.findall(r"^\| `([^`]+)` \|", readme, re.M)


def _property_names(node) -> set[str]:
    """Every name under a `properties` anywhere in the schema (its definitions included), found without the
    script's walk."""
    names = set()
    if isinstance(node, dict):
        names |= set(node.get("properties") or {})
        for value in node.values():
            names |= _property_names(value)
    elif isinstance(node, list):
        for value in node:
            names |= _property_names(value)
    return names


def test_config_readme_is_the_schemas_documentation():
    res = _docs("--check")
    assert res.returncode == 0, res.stderr


def test_every_schema_property_has_a_row():
    rows = _rows(README.read_text())
    assert len(rows) == len(set(rows))
    assert {row.rsplit(".", 1)[-1] for row in rows} >= _property_names(yaml.safe_load(SCHEMA.read_text()))
    # the maps' entries, under the names their schema titles give
    for key in ("pretrain.<run>.gpus", "methods.<method>.official", "ablations.<ablation>.variants.<variant>",
                "evaluation.semisup.<subset>.args", "evaluation.transfer.<dataset>.finetune.args"):
        assert key in rows, key


def test_check_names_a_key_missing_from_the_readme(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("".join(line for line in README.read_text().splitlines(keepends=True)
                              if not line.startswith("| `evaluation.knn_epochs` |")))
    res = _docs("--check", "--readme", str(readme))
    assert res.returncode == 1
    assert "does not describe evaluation.knn_epochs" in res.stderr and len(res.stderr.splitlines()) == 1


def test_check_names_a_described_key_the_schema_lacks(tmp_path):
    schema = yaml.safe_load(SCHEMA.read_text())
    del schema["properties"]["num_workers"]
    del schema["properties"]["pretrain"]["additionalProperties"]["properties"]["gpus"]
    path = tmp_path / "schema.yaml"
    path.write_text(yaml.safe_dump(schema, sort_keys=False))
    res = _docs("--check", "--schema", str(path))
    assert res.returncode == 1
    assert "describes keys the schema does not have: num_workers, pretrain.<run>.gpus" in res.stderr


def test_check_notices_a_changed_description(tmp_path):
    schema = yaml.safe_load(SCHEMA.read_text())
    schema["properties"]["data_root"]["description"] = "Somewhere else."
    path = tmp_path / "schema.yaml"
    path.write_text(yaml.safe_dump(schema, sort_keys=False))
    res = _docs("--check", "--schema", str(path))
    assert res.returncode == 1 and "differs from the schema's descriptions" in res.stderr


def test_a_key_without_a_description_is_an_error(tmp_path):
    schema = yaml.safe_load(SCHEMA.read_text())
    del schema["properties"]["evaluation"]["properties"]["linear"]["description"]
    path = tmp_path / "schema.yaml"
    path.write_text(yaml.safe_dump(schema, sort_keys=False))
    res = _docs("--schema", str(path), "--readme", str(tmp_path / "README.md"))
    assert res.returncode == 1
    assert res.stderr.strip() == "config_docs: schema: key 'evaluation.linear' has no description"
    assert not (tmp_path / "README.md").exists()


def test_rewriting_gives_the_committed_readme(tmp_path):
    out = tmp_path / "README.md"
    assert _docs("--readme", str(out)).returncode == 0
    assert out.read_text() == README.read_text()
