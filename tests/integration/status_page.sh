#!/usr/bin/env bash
# modes: plain
# status_page: the admin listener's status page at / in a real browser
# (headless Debian chromium): after 3 good requests to hello and one held
# connection to hello2 and a refused one to down, the DOM dump has
# table#services with a row per service, table#endpoints and
# table#connections with the held connection, table#failures the refused
# one (its record's id, UTC time, how long ago, service, result);
# the page is one self-contained document (no external asset, no script).
# The screenshot is kept: $T/status_page.png and build/artifacts/.
. "$(dirname "$0")/lib.sh"

command -v chromium >/dev/null || die "chromium not installed (scripts/deps.sh)"
ADMIN_A=$((MESHPORT + 7))
make_certs "$TD" client hello
hello2_args "$PORT2" "$BACKPORT2"
# down: B's upstream for it refuses (nothing listens on BACKPORT3).
write_confs "${HELLO2[0]}

[service.down]
ports = $PORT3
endpoints = 127.0.0.2:$MESHPORT
identity = hello
retries = 0" "${HELLO2[1]}

[service.down]
ports = $PORT3
upstream = 127.0.0.1:$BACKPORT3
identity = hello
allow = client"
sed -i "s/^admin = off$/admin = 127.0.0.1:$ADMIN_A/" "$T/a.ini"
start_meshd a "$T/a.ini"
start_meshd b "$T/b.ini"
start_upstream up http 127.0.0.1 "$BACKPORT"
start_upstream echo echo 127.0.0.1 "$BACKPORT2"

for i in 1 2 3; do
	body=$(mesh_client "${CURL[@]}" "http://hello:$PORT/") || body=
	check_eq "hello request $i" "hello from upstream" "$body"
done
check_eq "a connect to down is refused" ECONNREFUSED \
	"$(mesh_client "$PY" "$(dirname "$0")/connect_probe.py" down "$PORT3" 10 | cut -d' ' -f1)"
get_record rdown "$T/a.log" '.event == "close" and .service == "down" and .result == "refused"'
sleep 0.5 # a connect tries each address: the others' records
rdown=$(records "$T/a.log" '.event == "close" and .service == "down"' | tail -n 1)
spawn_client held "$T/held.out" "$PY" "$(dirname "$0")/held_client.py" hello2 "$PORT2" "$T/go"
check "the held connection is up" wait_grep "$T/held.out" 'echo one' 10

url="http://127.0.0.1:$ADMIN_A/"
curl -sS "$url" >"$T/page.html"
check_fail "the page loads nothing from elsewhere (no src=, no stylesheet link)" \
	grep -Eqi '<(script|img|link|iframe)|src=' "$T/page.html"
check "the page refreshes itself every 5 s" grep -q '<meta http-equiv="refresh" content="5">' "$T/page.html"

browser() { # ARGS...: headless chromium, a fresh profile, bounded
	timeout 60 chromium --headless --no-sandbox --disable-gpu --no-first-run \
		--user-data-dir="$T/chromium" --window-size=1400,1000 "$@" 2>>"$T/chromium.err"
}
browser --dump-dom "$url" >"$T/dom.html" || true
check "chromium rendered the page" grep -q '<table id="services"' "$T/dom.html"
# The DOM as a browser parsed it, read with python's HTML parser.
"$PY" - "$T/dom.html" >"$T/dom.txt" <<'PYEOF'
import sys
from html.parser import HTMLParser

class P(HTMLParser):
    def __init__(self):
        super().__init__()
        self.table = None; self.row = None; self.cell = None
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table": self.table = a.get("id")
        elif tag == "tr": self.row = [a.get("data-service") or a.get("data-id") or "-"]
        elif tag == "td" and self.row is not None: self.cell = ""
    def handle_data(self, d):
        if self.cell is not None: self.cell += d
    def handle_endtag(self, tag):
        if tag == "td" and self.row is not None and self.cell is not None:
            self.row.append(self.cell.strip()); self.cell = None
        elif tag == "tr" and self.row is not None:
            if len(self.row) > 1: print(self.table, "|".join(self.row))
            self.row = None
P().feed(open(sys.argv[1]).read())
PYEOF
sed 's/^/# /' "$T/dom.txt" | head -n 40
check "table#services has a row for hello" grep -q '^services hello|hello|called|' "$T/dom.txt"
check "table#services has a row for hello2" grep -q '^services hello2|hello2|called|' "$T/dom.txt"
# columns: service, as, open, opened, closed, failures, ...
check_eq "hello: 0 open, 3 opened, 3 closed" "0 3 3" \
	"$(awk -F'|' '/^services hello\|hello\|called/ { print $4, $5, $6 }' "$T/dom.txt")"
check_eq "hello2: 1 open, 1 opened" "1 1" \
	"$(awk -F'|' '/^services hello2\|hello2\|called/ { print $4, $5 }' "$T/dom.txt")"
check "table#endpoints: hello2's endpoint healthy with 1 connection" \
	grep -qE "^endpoints -\|hello2\|127.0.0.2:$MESHPORT\|0\|1\|healthy\|0\|1\|" "$T/dom.txt"
check "table#connections: the held connection to hello2, relaying, from python" \
	grep -qE '^connections hello2\|[0-9a-f]{16}\|outbound\|hello2\|relay\|.*python' "$T/dom.txt"

# columns: time (UTC), ago, service, direction, source, endpoint, result, detail
id=$(jget "$rdown" .id)
row=$(grep "^failures $id|" "$T/dom.txt") || row=
check "table#failures: a row with the refused connection's id $id" test -n "$row"
check_eq "table#failures: it is the newest (first) row" "$id" \
	"$(grep -m1 '^failures ' "$T/dom.txt" | cut -d' ' -f2 | cut -d'|' -f1)"
# The record's time and the ring's are taken microseconds apart: they may
# fall on either side of a second.
rt=$(jget "$rdown" .time)
hms0=$(date -u -d "$rt" +%H:%M:%S)
hms1=$(date -u -d "$rt + 1 second" +%H:%M:%S)
shown=$(cut -d'|' -f2 <<<"$row")
check "table#failures: its UTC time is its record's ($shown; record $hms0)" \
	test "$shown" = "$hms0" -o "$shown" = "$hms1"
check "table#failures: how long ago, in seconds" grep -qE '^[0-9]+ s ago$' <<<"$(cut -d'|' -f3 <<<"$row")"
check_eq "table#failures: down, outbound, from client, to B, refused, the record's detail" \
	"down|outbound|spiffe://$TD/svc/client|127.0.0.2:$MESHPORT|refused|$(jget "$rdown" '.detail // "-"')" \
	"$(cut -d'|' -f4-9 <<<"$row")"
check "table#services still counts down's failures by flag" grep -qE '^services down\|down\|called\|.*UF' "$T/dom.txt"

browser --screenshot="$T/status_page.png" "$url" >/dev/null || true
check "chromium took a screenshot" test -s "$T/status_page.png"
mkdir -p "$ROOT/build/artifacts"
cp -f "$T/status_page.png" "$ROOT/build/artifacts/status_page.png" 2>/dev/null || true
note "screenshot: build/artifacts/status_page.png"
touch "$T/go"
summary
