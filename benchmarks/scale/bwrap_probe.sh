#!/usr/bin/env bash
# Which bubblewrap options keep CUDA working (issue 24): cuInit under kopt's candidate
# confinement and variants of it, as root and as nobody. BWRAP: the binary.
# Usage: BWRAP=.gpubin/bwrap benchmarks/scale/bwrap_probe.sh
set -u
BWRAP=${BWRAP:-bwrap}
PY=${PY:-$(command -v python3)}
CHECK='import ctypes,sys
try:
    l = ctypes.CDLL("libcuda.so.1")
except OSError as e:
    print("no libcuda:", e); sys.exit(0)
rc = l.cuInit(0)
n = ctypes.c_int(0)
if rc == 0: l.cuDeviceGetCount(ctypes.byref(n))
s = ctypes.c_char_p()
l.cuGetErrorName(rc, ctypes.byref(s))
print("cuInit", rc, s.value.decode() if s.value else "", "devices", n.value)'
echo "id: $(id)  libcuda: $(ldconfig -p | grep -m1 libcuda.so.1)"
ls -la /dev/nvidia* 2>&1 | head -8
ls /run 2>&1 | head -20 | tr '\n' ' '; echo
base=(--die-with-parent --ro-bind / / --dev-bind /dev /dev --tmpfs /tmp)
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
try() {
  local label=$1; shift
  printf '%-44s ' "$label"
  "$@" "$PY" -c "$CHECK" 2>&1 | tail -1
}
try "root, no bwrap" env
try "nobody, no bwrap" as_nobody env
try "root, kopt's options" "$BWRAP" --unshare-net "${base[@]}" --tmpfs /run --tmpfs /root --remount-ro /run --remount-ro /root
try "nobody, kopt's options" as_nobody "$BWRAP" --unshare-net "${base[@]}" --tmpfs /run --tmpfs /root --remount-ro /run --remount-ro /root
try "nobody, no --unshare-net" as_nobody "$BWRAP" "${base[@]}" --tmpfs /run --tmpfs /root
try "nobody, /run kept" as_nobody "$BWRAP" --unshare-net "${base[@]}" --tmpfs /root
try "nobody, --dev-bind / / only" as_nobody "$BWRAP" --dev-bind / /
try "nobody, --dev-bind / / --unshare-net" as_nobody "$BWRAP" --dev-bind / / --unshare-net
try "nobody, --dev-bind / / --unshare-user" as_nobody "$BWRAP" --dev-bind / / --unshare-user
try "root, --dev-bind / / --unshare-user" "$BWRAP" --dev-bind / / --unshare-user
try "root, --dev-bind / / --unshare-net" "$BWRAP" --dev-bind / / --unshare-net
ro=(--ro-bind / / --dev-bind /dev /dev)
try "root, ro /, /dev, no private /tmp" "$BWRAP" "${ro[@]}"
try "root, ro /, /dev, /proc and /sys rw" "$BWRAP" "${ro[@]}" --dev-bind /proc /proc --dev-bind /sys /sys
try "root, ro /, /dev, host /tmp rw" "$BWRAP" "${ro[@]}" --bind /tmp /tmp
try "root, ro /, /dev, private /tmp" "$BWRAP" "${ro[@]}" --tmpfs /tmp
try "root, rw /, private /tmp" "$BWRAP" --dev-bind / / --tmpfs /tmp
echo "mounts under /dev, /proc, /sys, /tmp:"
awk '$5 ~ "^/(dev|proc|sys|tmp)" {print $5, $6}' /proc/self/mountinfo | sort -u | head -20
ls -la /tmp | head -12

