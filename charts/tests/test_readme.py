"""The values table in the chart README is the one generated from values.yaml."""

from __future__ import annotations

import yaml

import values_table
from conftest import CHART


def test_readme_values_table_matches_values_yaml():
    expected = values_table.table(CHART)
    actual = values_table.readme_table((CHART / "README.md").read_text())
    assert actual == expected, "README values table is stale: run `make chart-readme`"


def test_every_value_is_documented():
    text = (CHART / "values.yaml").read_text()
    values = yaml.safe_load(text)
    documented = values_table.documented_keys(text)
    for path in values_table.leaves(values):
        parts = path.split(".")
        covered = any(
            ".".join(parts[:n]) in documented
            and (n == len(parts) or documented[".".join(parts[:n])].documented_as_whole)
            for n in range(1, len(parts) + 1)
        )
        assert covered, f"{path} has no `# --` description in values.yaml"
    for path, entry in documented.items():
        value = values_table.lookup(values, path)
        if isinstance(value, dict) and value:
            assert entry.documented_as_whole, path
        assert entry.description, path
