#!/usr/bin/env bash
# Lint: ruff and mypy --strict, as `tox -e lint` does (needs the dev extra:
# ci/install-deps.sh --dev). Runs both and fails if either fails.
set -uo pipefail
cd "$(dirname "$0")/.."

status=0
echo "+ ruff check ."
ruff check . || status=1
echo "+ mypy --strict (the files of pyproject.toml [tool.mypy])"
mypy --strict || status=1
exit $status
