#!/usr/bin/env bash
# Runs this project's GPU tests on a lent GPU machine, from the binaries scripts/device-prep.sh
# put in .devbin (carry [".devbin", ".gl"]; timeout_s 300). The tests name files by the path
# they were built in (.devbin/manifest_dir): it is linked to this checkout, and the debug
# binary the CLI tests call is put where they look for it. Output in $OUT/tests-*.txt; a summary
# of the result lines last.
set -u
OUT=${OUT:-device-tests-out}; mkdir -p "$OUT"
if [ -d .gl ]; then for f in .gl/*.deb; do dpkg -x "$f" / 2>/dev/null; done; ldconfig; fi
if [ -z "${VK_DRIVER_FILES:-}" ] && [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
fi
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
export PYRALNET_REQUIRE_GPU=1
built=$(cat .devbin/manifest_dir)
if [ "$built" != "$PWD" ] && [ ! -e "$built" ]; then
  mkdir -p "$(dirname "$built")" && ln -s "$PWD" "$built"
fi
mkdir -p target/debug
cp .devbin/pyralnet-debug target/debug/pyralnet
.devbin/pyralnet devices --dims 4,120,3 > "$OUT/devices.txt" 2>&1
for t in .devbin/test-*; do
  name=${t#.devbin/test-}
  timeout 120 "$t" --nocapture > "$OUT/tests-$name.txt" 2>&1
  echo "exit $? for $name" >> "$OUT/tests-$name.txt"
done
echo "== summary"; head -3 "$OUT/devices.txt"
grep -hE "^test result|FAILED|panicked|^exit" "$OUT"/tests-*.txt
