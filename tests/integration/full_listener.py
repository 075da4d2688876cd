# full_listener.py PORT READYFILE: a listener on 127.0.0.1:PORT with a
# backlog of 0 that never accepts, already holding connections, so the
# kernel drops every further SYN and connects to it hang. Writes READYFILE
# once full, then waits 60 s (killed with the scenario). Shared by the
# scenarios that need an upstream whose connects time out.
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(0)
fillers = []
for _ in range(2):
    c = socket.socket(); c.setblocking(False)
    try:
        c.connect(("127.0.0.1", int(sys.argv[1])))
    except BlockingIOError:
        pass
    fillers.append(c)
time.sleep(0.3)
open(sys.argv[2], "w").write("full\n")
time.sleep(60)
