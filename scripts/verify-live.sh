#!/usr/bin/env bash
# Checks the live APIs against their contracts with `emulators verify`, for every provider whose
# token is in the environment; a provider without one is skipped (and says so).
#
#   KAI_TOKEN=... KIE_TOKEN=... scripts/verify-live.sh
#
# Tokens: KAI_TOKEN, KIE_TOKEN, KITTA_TOKEN, KREADO_TOKEN, VOICECLONE_TOKEN. Base URLs default to
# the real services (<ID>_BASE_URL overrides; voiceclone has no public host: VOICECLONE_BASE_URL
# is required). VERIFY_ARGS adds options to every run (e.g. "--allow-spend --timeout 900", or
# "--var voice=<id>" for kitta). Reports: $REPORT_DIR/<id>.json (default verify-reports/).
# Exit: the worst of the runs: 0 no drift (or nothing to check), 1 drift, 2 could not run.
set -u
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
REPORT_DIR="${REPORT_DIR:-verify-reports}"
mkdir -p "$REPORT_DIR"
worst=0

check() {  # <id> <token variable> <base URL>
  local id=$1 var=$2 url=$3
  local token="${!var:-}"
  if [ -z "$token" ]; then
    echo "skip $id: \$$var is not set"
    return
  fi
  if [ -z "$url" ]; then
    echo "skip $id: no base URL (set $(echo "$id" | tr '[:lower:]' '[:upper:]')_BASE_URL)"
    return
  fi
  # shellcheck disable=SC2086  # VERIFY_ARGS is a list of options
  "$PYTHON" -m emulators.cli verify "$id" --base-url "$url" --token "$token" \
    --report "$REPORT_DIR/$id.json" ${VERIFY_ARGS:-}
  local code=$?
  if [ "$code" -gt "$worst" ]; then worst=$code; fi
}

check kai KAI_TOKEN "${KAI_BASE_URL:-https://mconnect.kai.kaino.io/api/v1}"
check kie KIE_TOKEN "${KIE_BASE_URL:-https://api.kie.ai}"
check kitta KITTA_TOKEN "${KITTA_BASE_URL:-https://kittaai.com}"
check kreado KREADO_TOKEN "${KREADO_BASE_URL:-https://api.kreadoai.com}"
check voiceclone VOICECLONE_TOKEN "${VOICECLONE_BASE_URL:-}"
exit "$worst"
