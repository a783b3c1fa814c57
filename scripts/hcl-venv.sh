#!/usr/bin/env bash
# Creates .venv-hcl with python-hcl2, an HCL parser written independently of
# the Rust library moat writes HCL with; the interchange tests parse every
# exported Terraform file with it. Safe to run again: a complete venv is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv-hcl
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import hcl2' 2>/dev/null; then
    exit 0
fi
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check 'python-hcl2==8.1.4'
