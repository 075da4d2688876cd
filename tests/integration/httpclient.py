"""What the scenarios' python clients share (lib.sh puts this directory on
PYTHONPATH): connecting the way a program would, and one HTTP/1.0 GET read
until the server closes."""
import select
import socket


def connect(s, addr, mode, wait):
    """Connect s to addr, blocking or (mode "nonblocking") the way a polling
    program does, printing what it sees: connect_ex's result, then SO_ERROR
    once the socket is writable (or after `wait` seconds)."""
    if mode == "nonblocking":
        s.setblocking(False)
        rc = s.connect_ex(addr)
        print("connect_ex", "EINPROGRESS" if rc == 115 else rc)
        select.select([], [s], [], wait)
        print("SO_ERROR", s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR))
        s.setblocking(True)
    else:
        s.settimeout(wait)
        s.connect(addr)
    s.settimeout(10)


def read_all(s):
    """Everything s delivers until the peer closes."""
    resp = b""
    while True:
        b = s.recv(65536)
        if not b:
            return resp
        resp += b


def get(s, host):
    """GET / with Host: host on the connected s; (request, response)."""
    req = ("GET / HTTP/1.0\r\nHost: %s\r\n\r\n" % host).encode()
    s.sendall(req)
    return req, read_all(s)


def body(resp):
    return resp.split(b"\r\n\r\n", 1)[-1].decode()


def report(req, resp):
    """The two lines the scenarios check: sizes, then the body."""
    print("sent %d received %d" % (len(req), len(resp)))
    print(body(resp), end="")
