"""held_client.py HOST PORT GOFILE: one connection held open across an event.

Used by drain.sh and reload_open_conn.sh, run under the shim. Connects,
checks one echoed line ("echo one"), waits until GOFILE exists (the scenario
drains or reloads meanwhile), checks a second echoed line ("echo two"),
half-closes and expects a clean EOF ("done"). Exits non-zero with the reason
on any surprise.
"""
import os
import socket
import sys
import time

host, port, go = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.create_connection((host, port), timeout=30)


def echo(line):
    s.sendall(line)
    got = b""
    while len(got) < len(line):
        b = s.recv(4096)
        if not b:
            sys.exit("EOF before the echo of %r (got %r)" % (line, got))
        got += b
    if got != line:
        sys.exit("bad echo %r for %r" % (got, line))
    print("echo", got.decode().strip(), flush=True)


echo(b"one\n")
deadline = time.time() + 30
while not os.path.exists(go):
    if time.time() > deadline:
        sys.exit("no go file")
    time.sleep(0.05)
echo(b"two\n")
s.shutdown(socket.SHUT_WR)
rest = s.recv(4096)
if rest:
    sys.exit("unexpected bytes after EOF: %r" % rest)
print("done", flush=True)
