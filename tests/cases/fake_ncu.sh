#!/bin/sh
# A stand-in for Nsight Compute in tests: takes ncu's options, runs the program, then
# writes a canned CSV log, as ncu does once the program has ended. FAKE_NCU_FAIL=1
# writes ncu's permission error instead; FAKE_NCU_FAIL=2 writes it and exits without
# starting the program (ncu refusing up front).
log=
while [ $# -gt 0 ]; do
  case $1 in
    --log-file) log=$2; shift 2 ;;
    --csv) shift ;;
    --*) shift 2 ;;
    *) break ;;
  esac
done
if [ "${FAKE_NCU_FAIL:-0}" = 2 ]; then
  echo "==ERROR== The application returned an error code (1)." >"$log"
  exit 1
fi
"$@"
rc=$?
if [ "${FAKE_NCU_FAIL:-0}" = 1 ]; then
  echo "==ERROR== ERR_NVGPUCTRPERM - The user does not have permission to access NVIDIA GPU Performance Counters" >"$log"
else
  cat >"$log" <<'CSV'
==PROF== Connected to process 1
"ID","Kernel Name","Metric Name","Metric Unit","Metric Value"
"0","fake_kernel","gpu__time_duration.sum","nsecond","12,345"
"0","fake_kernel","dram__throughput.avg.pct_of_peak_sustained_elapsed","%","55.5"
CSV
fi
exit $rc
