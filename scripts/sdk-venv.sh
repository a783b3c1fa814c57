#!/usr/bin/env bash
# Creates .venv-sdk with Alibaba's official Python SDKs, used by the emulator's
# interop test. Safe to run again: an existing, complete venv is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv-sdk
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import aliyunsdkecs, alibabacloud_ecs20140526' 2>/dev/null; then
    exit 0
fi
command -v python3 >/dev/null || { echo "python3 is required by the Python SDK interop test" >&2; exit 1; }
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check \
    'aliyun-python-sdk-core==2.16.1' \
    'aliyun-python-sdk-ecs==4.24.83' \
    'alibabacloud-ecs20140526==7.11.8' \
    'alibabacloud-tea-openapi==0.4.6' \
    'alibabacloud-credentials==1.0.12'
