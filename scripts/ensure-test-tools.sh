#!/usr/bin/env bash
# Make sure the Debian programs some integration tests drive are installed:
#   chromium     the browser test (tests/integration/test_demo_page.py), driven by Playwright
#                (`playwright install`, a browser download, is never used)
#   nginx-light  the real docker/nginx.conf on loopback (tests/integration/test_nginx.py)
# Without root or apt-get this only warns: those tests then skip loudly, and CI=true fails on it.
set -euo pipefail

declare -A PACKAGE_OF=([/usr/bin/chromium]=chromium [/usr/sbin/nginx]=nginx-light)
missing=()
for binary in "${!PACKAGE_OF[@]}"; do
    [[ -x "$binary" ]] || missing+=("${PACKAGE_OF[$binary]}")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    # Refresh the package lists only when apt does not know a package yet.
    for package in "${missing[@]}"; do
        if ! apt-cache show "$package" >/dev/null 2>&1; then
            apt-get update -qq
            break
        fi
    done
    apt-get install -y -qq "${missing[@]}"
    exit 0
fi

echo "ensure-test-tools: missing ${missing[*]}, which cannot be installed here (needs root and apt-get)." >&2
echo "ensure-test-tools: the tests that drive them will be SKIPPED (loudly; CI=true fails the run);" >&2
echo "ensure-test-tools: install them with: sudo apt-get install ${missing[*]}" >&2
exit 0
