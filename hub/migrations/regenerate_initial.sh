#!/usr/bin/env bash
# Regenerate the initial migration from the schema while the project has no deployed
# databases to migrate; once one exists, add new revisions instead.
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
rm -f hub/migrations/versions/0001_*.py
.venv/bin/python - "$tmp" <<'PY'
import sys
from alembic import command
from hub.database import alembic_config
cfg = alembic_config(f"sqlite:///{sys.argv[1]}/gen.db")
command.revision(cfg, message="create the resource store and search index", autogenerate=True, rev_id="0001")
PY
rm -rf "$tmp"
