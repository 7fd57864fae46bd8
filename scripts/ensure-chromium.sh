#!/usr/bin/env bash
# Make sure Debian's `chromium` is installed for the browser test (tests/integration/test_demo_page.py).
# Playwright drives this system browser; `playwright install` (a browser download) is never used.
# Without root or apt-get this only warns: the browser test then skips (loudly; CI=true fails on it).
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [[ -x "$CHROMIUM" ]]; then
    exit 0
fi

if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    # Refresh the package lists only when apt does not know the package yet.
    if ! apt-cache show chromium >/dev/null 2>&1; then
        apt-get update -qq
    fi
    apt-get install -y -qq chromium
    exit 0
fi

echo "ensure-chromium: $CHROMIUM is missing and cannot be installed here (needs root and apt-get)." >&2
echo "ensure-chromium: the browser test (tests/integration/test_demo_page.py) will be SKIPPED;" >&2
echo "ensure-chromium: install it with: sudo apt-get install chromium" >&2
exit 0
