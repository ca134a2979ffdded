"""kopt worker harness: runs one workload (reference role) or one candidate (candidate role).

Embedded in the kopt binary and written, with its modules, next to each worker at run
time. It speaks kopt's frame protocol on an inherited socket (fd 3): a u32 little-endian
header length, a JSON header, then header["payload"] bytes of raw tensor data (kopt_wire).
stdout and stderr are logs only; nothing printed there is ever read as a result.

The modules, imported in main() once torch is, before any user code runs:
  kopt_wire      the frame protocol          kopt_values    value trees, output rules
  kopt_common    shared helpers              kopt_tripwire  the tamper tripwire
  kopt_timing    the stopwatch, profiles     kopt_roles     the reference and candidate
  kopt_ipc       CUDA IPC (driver API)       kopt_compare   the comparison rules (torch)
  kopt_comparer  the comparer on the device (reference role, CUDA)
  kopt_stream    the host path's streamed values (chunk frames), the roles' streamed trials

Everything in the candidate role runs inside an untrusted process: the checks here
(tamper tripwires, input copies, poisoning) can raise suspicion, never prove
innocence. kopt's real checks happen in its own process.

Supports torch 1.13 (Debian's CPU build) and later.
"""

import sys

if sys.byteorder != "little":
    raise SystemExit("kopt: worker needs a little-endian machine")

import os

_os_exit = os._exit  # captured before any user code runs


def _flush_and_exit():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    _os_exit(0)


def serve(role, channel):
    from kopt_common import error_reply
    from kopt_roles import CandidateRole, ReferenceRole
    from kopt_wire import ProtocolError
    while True:
        try:
            header, payload = channel.recv()
        except EOFError:
            return 0
        op = header.get("op")
        try:
            if op == "hello":
                reply = role.hello(header)
            elif op == "load":
                reply = role.load(header)
            elif op == "init":
                reply = role.init(header, payload) if isinstance(role, CandidateRole) else role.init(header)
            elif op == "trial" and isinstance(role, ReferenceRole):
                reply = role.trial(header)
            elif op == "call" and isinstance(role, CandidateRole):
                reply = role.call(header, payload)
            elif op == "fill" and isinstance(role, ReferenceRole):
                reply = role.fill(header)
            elif op == "compare" and isinstance(role, ReferenceRole):
                reply = role.compare(header, payload)
            elif op == "prepare" and isinstance(role, CandidateRole):
                reply = role.prepare(header)
            elif op == "compile" and isinstance(role, ReferenceRole):
                reply = role.compile(header)
            elif op in ("time_setup", "time_prepare", "time_run", "time_output", "time_copy", "profile", "ncu_run"):
                sw = role.stopwatch
                reply = {"time_setup": sw.setup, "time_prepare": sw.prepare, "time_run": sw.run,
                         "time_output": sw.output, "time_copy": sw.copy, "profile": sw.profile,
                         "ncu_run": sw.ncu_run}[op](header)
            elif op == "bye":
                channel.send({"ok": True})
                if "torch._inductor" not in sys.modules:
                    # Every result is in: skip the interpreter's shutdown (CUDA teardown,
                    # garbage collection: about a second). torch.compile's worker pool, if
                    # one was started, gets the normal exit that shuts it down.
                    _flush_and_exit()
                return 0
            else:
                reply = {"ok": False, "error": "protocol", "message": "unknown op %r" % op}
        except (ProtocolError, KeyError, ValueError, TypeError) as exc:
            reply = error_reply("protocol", exc)
        if reply is not None:
            channel.send(reply)


def main(argv):
    import argparse
    parser = argparse.ArgumentParser()
    parser.add_argument("--role", choices=["reference", "candidate"], required=True)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--fd", type=int, default=3)
    args = parser.parse_args(argv)
    # Non-dumpable before any user code runs: another candidate of the same user cannot
    # read this process's memory or environment through /proc (the reference's outputs,
    # or a sibling candidate's inputs).
    try:
        import ctypes
        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE, 0
    except Exception:
        pass
    from kopt_wire import Channel
    channel = Channel(args.fd)
    # torch and the harness's modules: each captures what it calls (time.perf_counter,
    # torch.cuda.Event, ...) as it is imported, before any user code.
    from kopt_roles import CandidateRole, ReferenceRole
    role = ReferenceRole(channel, args.device) if args.role == "reference" else CandidateRole(channel, args.device)
    return serve(role, channel)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
