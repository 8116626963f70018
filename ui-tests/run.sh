#!/usr/bin/env bash
# Galata (Playwright) tests of the sidebar in Debian's chromium against a real JupyterLab.
#
# Needs: the Python package importable with its labextension visible to JupyterLab (`pip install .`
# does both), and /usr/bin/chromium (`apt-get install -y chromium`). Playwright's own browser
# download (`playwright install`) is neither needed nor reachable.
# Extra arguments go to `playwright test` (e.g. `-g dashboard`).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
cd "$here"

if [ ! -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]; then
    echo "ui-tests: no chromium at ${CHROMIUM_PATH:-/usr/bin/chromium}; apt-get install -y chromium" >&2
    exit 1
fi

t0=$(date +%s)
jlpm install
t1=$(date +%s)
# The source tree first on the server's path, so a checkout under test is what runs.
export PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}"
status=0
jlpm playwright test "$@" || status=$?
t2=$(date +%s)
echo "ui-tests: jlpm install $((t1 - t0))s, playwright $((t2 - t1))s (screenshots and traces in ui-tests/test-results/, report in ui-tests/playwright-report/)"
exit $status
