"""docs/openapi.yaml must be what the code serves (regenerate with `make schema`)."""
from pathlib import Path

import yaml
from django.core.management import call_command


def test_committed_schema_matches_the_code(tmp_path, db):
    out = tmp_path / "openapi.yaml"
    call_command("spectacular", "--file", str(out))
    committed = Path(__file__).resolve().parent.parent / "docs" / "openapi.yaml"
    assert yaml.safe_load(out.read_text()) == yaml.safe_load(committed.read_text()), \
        "docs/openapi.yaml is stale: run `make schema`"
