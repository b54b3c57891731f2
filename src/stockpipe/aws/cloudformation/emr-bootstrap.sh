#!/bin/bash
# Bootstrap action of the stack's EMR cluster (src/stockpipe/aws/cloudformation/stockpipe.yaml, EmrCluster):
# installs the stockpipe wheel for Python 3.11 on every node, before Spark starts.
# `stockpipe deploy` uploads this file to s3://<artifacts>/glue/emr-bootstrap.sh.
# Argument 1: the s3:// URI of the wheel; without it there is nothing to install.
# The wheel's requirements come from PyPI, so the subnet needs a route to the internet.
set -euo pipefail

if [ "$#" -eq 0 ] || [ -z "$1" ]; then
  echo "stockpipe bootstrap: no wheel given, nothing to install"
  exit 0
fi
wheel_uri="$1"
case "$wheel_uri" in
  s3://*.whl) ;;
  *) echo "stockpipe bootstrap: $wheel_uri is not an s3:// URI of a .whl file" >&2; exit 2 ;;
esac

# EMR 7 (Amazon Linux 2023) runs PySpark on Python 3.9; the wheel needs 3.11.
command -v python3.11 >/dev/null || sudo dnf install -y -q python3.11
python3.11 -m pip --version >/dev/null 2>&1 || sudo dnf install -y -q python3.11-pip

workdir="$(mktemp -d)"
aws s3 cp --only-show-errors "$wheel_uri" "$workdir/"
sudo python3.11 -m pip install --quiet "$workdir/$(basename "$wheel_uri")"
echo "stockpipe bootstrap: installed $(basename "$wheel_uri")"
