#!/usr/bin/env bash
# Installs the infra static-check tools (checkov, hadolint) into .venv-checkov at the
# repository root, isolated from the project's own environment. Idempotent: does
# nothing when the venv already matches the pinned files. Takes about 75 s when cold.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="${CUTOUT_CHECKS_VENV:-$root/.venv-checkov}"
here="$root/infra/tools"
python="${PYTHON:-python3}"

stamp="$(cat "$here/requirements.txt" "$here/checks-constraints.txt" | sha256sum | cut -d' ' -f1)"
if [[ -x "$venv/bin/checkov" && -x "$venv/bin/hadolint" && "$(cat "$venv/.cutout-stamp" 2>/dev/null)" == "$stamp" ]]; then
  echo "infra check tools up to date in $venv"
  exit 0
fi

echo "installing infra check tools into $venv"
"$python" -m venv --clear "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  -r "$here/requirements.txt" -c "$here/checks-constraints.txt"
"$venv/bin/checkov" --version >/dev/null
"$venv/bin/hadolint" --version >/dev/null
echo "$stamp" > "$venv/.cutout-stamp"
echo "installed: checkov $("$venv/bin/checkov" --version), $("$venv/bin/hadolint" --version)"
