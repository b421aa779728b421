"""The import contracts of pyproject.toml ([tool.importlinter], docs/architecture/layers.md) hold:
`make test` fails on an import that crosses a layer, as `.ci/run` does."""

import subprocess
import sys
import tomllib
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def test_every_import_contract_is_kept():
    contracts = tomllib.loads((BASE_DIR / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    result = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"], cwd=BASE_DIR, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Contracts: {len(contracts)} kept, 0 broken." in result.stdout
    assert {c["id"] for c in contracts} >= {
        "core-imports-no-domain-app",
        "domain-apps-import-no-payments-app",
        "back-office-only-from-admin",
    }
