#!/usr/bin/env bash
# shellcheck disable=SC2119  # setup_hello takes optional arguments
# node http.get (libuv: getaddrinfo on the thread pool, non-blocking connect,
# epoll): the page by mesh name; node prints the socket's remote address and
# its own byte counts, which equal both hosts' records.
. "$(dirname "$0")/lib.sh"
need node
setup_hello
note "node $(node --version)"

st=0
out=$(mesh_run timeout 30 node -e '
const http = require("http");
const req = http.get(process.argv[1], { agent: false }, (res) => {
  let body = "";
  res.setEncoding("utf8");
  res.on("data", (c) => (body += c));
  res.on("end", () => {
    const s = req.socket;
    console.log("status " + res.statusCode);
    console.log("remote " + s.remoteAddress + ":" + s.remotePort);
    process.stdout.write(body);
    s.on("close", () => console.log("sent " + s.bytesWritten + " received " + s.bytesRead));
  });
});
req.on("error", (e) => { console.error("error: " + e.message); process.exit(1); });
' "http://hello:$PORT/" 2>&1) || st=$?
check_eq "node exits 0" 0 "$st"
read -r _ sent _ received <<<"$(grep '^sent ' <<<"$out" || echo "sent 0 received 0")"
check_eq "node prints status, the VIP as remote address, the page and its counts" \
	"status 200
remote $VIP:$PORT
$TOKEN
sent $sent received $received" "$out"
CONN_PROGRAM=node client_conns "$st" "node http.get" 1 web
check_pair_bytes "node http.get (socket.bytesWritten, bytesRead)" "$sent" "$received"

# The global agent (keep-alive in node >= 19) and two requests in parallel.
st=0
out=$(mesh_run timeout 30 node -e '
const http = require("http");
const get = (u) => new Promise((ok, ko) => http.get(u, (res) => {
  let b = ""; res.on("data", (c) => (b += c)); res.on("end", () => ok(res.statusCode + " " + b.trim()));
}).on("error", ko));
Promise.all([get(process.argv[1]), get(process.argv[1])]).then((r) => {
  console.log(r.join("\n"));
  process.exit(0);
}, (e) => { console.error("error: " + e.message); process.exit(1); });
' "http://hello:$PORT/" 2>&1) || st=$?
check_eq "node, two parallel http.get: exits 0" 0 "$st"
check_eq "node, two parallel http.get: both pages" "200 $TOKEN
200 $TOKEN" "$out"
CONN_PROGRAM=node client_conns "$st" "node two parallel http.get" 2 web

summary
