#!/usr/bin/env bash
# Continue released model NAME for MINUTES on this machine (a GPU when there is one), judge it against
# the release, and leave in OUT what to bring back: log.txt, verdict.json and release.tar.* or
# candidate.tar.* (see scripts/campaign.py).  Run from the checkout's root, on a machine that has Python
# and torch; the other dependencies come from the wheels in .whl/ when it has them (no network needed).
#   bash scripts/gpu_campaign.sh audio/diffwave 11 "$OUT" [key=value ...]
set -euo pipefail
if [ $# -lt 3 ]; then echo "usage: $0 NAME MINUTES OUT [key=value ...]" >&2; exit 2; fi
name=$1 minutes=$2 out=$3; shift 3
mkdir -p "$out"
exec > >(tee "$out/log.txt") 2>&1
start=$(date +%s)
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
if compgen -G ".whl/*.whl" > /dev/null; then
  site=${TMPDIR:-/tmp}/zoo-campaign-site
  python3 -m pip install -q --no-index --no-deps --no-compile --target "$site" .whl/*.whl
  export PYTHONPATH="$PWD:$site"
fi
python3 -c "import omegaconf, trimesh, Bio, soundfile, safetensors, torch, torchaudio" || {
  echo "missing dependencies: put their wheels in .whl/ (python3 scripts/campaign.py wheels, on a machine with the package registry)"; exit 2; }
command -v nvidia-smi > /dev/null && nvidia-smi -L || echo "no nvidia-smi: training on $(nproc) CPU cores"
echo "installed in $(( $(date +%s) - start )) s"
python3 scripts/campaign.py run "$name" "$minutes" "$out" "$@"
echo "campaign done in $(( $(date +%s) - start )) s (budget: $minutes min + 3)"
