#include <malloc.h>

#include "kopt/cli/app.hpp"

int main(int argc, char** argv) {
  // kopt moves tensors of hundreds of megabytes between workers and compares them. glibc
  // maps every block over 32 MiB afresh and unmaps it on free, so each such buffer paid a
  // page fault per 4 KiB, every trial: most of a large workload's verification time
  // (docs/benchmarks.md, "Verification of large outputs"). Blocks come from the heap
  // instead, which keeps up to 1 GiB of freed memory for the next trial.
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  return kopt::cli::main({argv + 1, argv + argc});
}
