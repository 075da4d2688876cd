"""A TLS peer holding a mesh certificate, for scenarios that drive meshd's
link protocol frame by frame (daemon/proto.h): frame types, the OPEN
header, the TLS connect and frame reading, so every scenario speaks the
same wire format from one place."""
import socket
import ssl
import struct

DATA, FIN, RST, OPEN, STATUS, WINDOW, PING, PONG, CALLER = range(9)
ALPN = "libmesh/2"  # what a meshd from before PING/PONG offered (still accepted)


def frame(t, sid, payload=b""):
    return struct.pack(">II", (t << 24) | len(payload), sid) + payload


def caller(pid, program=b"peer.py", prog_len=None):
    """A CALLER payload (libmesh/4): pid, program (prog_len: what it says)."""
    prog = program.encode() if isinstance(program, str) else program
    n = len(prog) if prog_len is None else prog_len
    return struct.pack(">IB", pid, n) + prog


def header(service, conn_id, port, program="peer.py", uid=0xffffffff, pid=0):
    """An OPEN payload: version 2, the caller's claimed uid/pid/program."""
    svc = service.encode() if isinstance(service, str) else service
    prog = program.encode() if isinstance(program, str) else program
    return struct.pack(">2sBBHHQIIBB", b"LM", 2, 0, 26 + len(svc) + len(prog),
                       int(port), conn_id, pid, uid, len(svc), len(prog)) + svc + prog


def context(ca, cert, key, alpn=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(ca)
    ctx.load_cert_chain(cert, key)
    ctx.check_hostname = False
    ctx.set_alpn_protocols(alpn or [ALPN])
    return ctx


def connect(ca, cert, key, host="127.0.0.2", port=0, sni="hello", timeout=10,
            ctx=None, bind=None):
    """A TLS link to meshd; a flood passes one ctx for all its links."""
    raw = socket.create_connection((host, int(port)), timeout=timeout,
                                   source_address=(bind, 0) if bind else None)
    return (ctx or context(ca, cert, key)).wrap_socket(raw, server_hostname=sni)


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            return None
        b += c
    return b


def read_frame(s):
    """(type, stream id, payload), or None when the link ends."""
    h = recv_exact(s, 8)
    if h is None:
        return None
    w, sid = struct.unpack(">II", h)
    n = w & 0xffffff
    return (w >> 24, sid, recv_exact(s, n) if n else b"")
