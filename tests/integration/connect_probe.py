# connect_probe.py HOST PORT [TIMEOUT_S]: one blocking connect (under the
# shim when run with mesh_client), then close. Prints "connected SECS", or
# the errno's name (ECONNREFUSED, ETIMEDOUT...) or "timeout" (TIMEOUT_S
# passed) and SECS. Shared by the verdict scenarios.
import errno, socket, sys, time
timeout = float(sys.argv[3]) if len(sys.argv) > 3 else None
t = time.monotonic()
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=timeout).close()
    r = "connected"
except OSError as e:
    r = errno.errorcode.get(e.errno, str(e.errno)) if e.errno else "timeout"
print(r, "%.2f" % (time.monotonic() - t))
