#!/bin/sh
# Run by the nginx image's entrypoint before nginx starts (mounted into /docker-entrypoint.d/).
# Routes /flower/ publicly only when FLOWER_PUBLIC=true; otherwise reach Flower through an SSH tunnel
# to 127.0.0.1:5555 on the Docker host (docker/README.md).
set -eu

locations="${NGINX_LOCATIONS_DIR:-/etc/nginx/locations.d}"
snippet="${NGINX_FLOWER_SNIPPET:-/etc/nginx/taskplatform/flower.conf}"

mkdir -p "$locations"
rm -f "$locations/flower.conf"
case "${FLOWER_PUBLIC:-false}" in
    true)
        cp "$snippet" "$locations/flower.conf"
        echo "$0: FLOWER_PUBLIC=true: /flower/ is routed through nginx (behind Flower's basic auth)"
        ;;
    false | "")
        echo "$0: /flower/ is not routed (FLOWER_PUBLIC is not true)"
        ;;
    *)
        echo "$0: FLOWER_PUBLIC must be true or false, not '$FLOWER_PUBLIC'" >&2
        exit 1
        ;;
esac
