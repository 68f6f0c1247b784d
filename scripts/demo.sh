#!/usr/bin/env bash
# make demo: run ferry on its embedded default page, socket-activated the way systemd does it.
# PORT=8080 by default; Ctrl-C stops it.
set -eu
cd "$(dirname "$0")/.."
port=${PORT:-8080}
echo "ferry demo: systemd-socket-activate -l 127.0.0.1:$port build/ferry"
echo "open http://127.0.0.1:$port/  (or: curl http://127.0.0.1:$port/); Ctrl-C stops"
exec systemd-socket-activate -l "127.0.0.1:$port" build/ferry
