#!/usr/bin/env bash
# Copies the files the Helm chart must carry but does not own into charts/kfaas/ (Helm can only
# read files inside the chart):
#   crds/*.yaml           -> charts/kfaas/crds/         (the Function CRD; crds/ is the only source)
#   dashboards/kfaas.json -> charts/kfaas/dashboards/   (embedded in the dashboard ConfigMap)
# Never edit the copies; hack/verify-chart.sh fails when they differ.
set -euo pipefail
cd "$(dirname "$0")/.."

shopt -s nullglob
crds=(crds/*.yaml)
if [ "${#crds[@]}" -eq 0 ]; then
  echo "update-chart: no CRD in crds/ (crds/functions.kfaas.dev.yaml comes from the operator)" >&2
  exit 1
fi
mkdir -p charts/kfaas/crds charts/kfaas/dashboards
# Copies of CRDs that no longer exist at the source go too.
for f in charts/kfaas/crds/*.yaml; do
  [ -f "crds/$(basename "$f")" ] || rm -v "$f"
done
for f in "${crds[@]}"; do
  cp "$f" "charts/kfaas/crds/$(basename "$f")"
done
cp dashboards/kfaas.json charts/kfaas/dashboards/kfaas.json
echo "update-chart: copied ${crds[*]} and dashboards/kfaas.json into charts/kfaas/"
