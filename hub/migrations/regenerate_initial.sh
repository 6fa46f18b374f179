#!/usr/bin/env bash
# Regenerate the initial migration from the schema while the project has no deployed
# databases to migrate; once one exists, add new revisions instead.
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
rm -f hub/migrations/versions/0001_*.py
# Hand-written revisions on top (PostgreSQL statistics and the like) wait aside meanwhile.
mkdir "$tmp/later"
find hub/migrations/versions -maxdepth 1 -name '0*.py' -exec mv {} "$tmp/later/" \;
.venv/bin/python - "$tmp" <<'PY'
import sys
from alembic import command
from hub.database import alembic_config
cfg = alembic_config(f"sqlite:///{sys.argv[1]}/gen.db")
command.revision(cfg, message="create the resource store and search index", autogenerate=True, rev_id="0001")
PY
mv "$tmp"/later/*.py hub/migrations/versions/ 2>/dev/null || true
rm -rf "$tmp"
