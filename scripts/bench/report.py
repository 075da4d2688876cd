#!/usr/bin/env python3
"""report.py: the parsing and the table of scripts/bench.sh.

  report.py wrk FILE         wrk --latency output -> one line:
                             "requests rps p50_us p99_us non2xx sockerr avg_us"
  report.py iperf FILE       iperf3 -J output -> "gbps bytes"
  report.py table DIR TXT JSON
                             DIR/results.tsv ("round path key value" lines)
                             and DIR/meta.tsv ("key value" lines) -> the
                             table on stdout and in TXT, everything in JSON

Medians are taken over rounds; error counts are summed over rounds.
"""
import json
import math
import re
import statistics
import sys

UNITS = {"us": 1.0, "ms": 1e3, "s": 1e6, "m": 60e6, "h": 3600e6}


def dur_us(text):
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m|h)", text)
    if not m:
        raise ValueError("bad duration %r" % text)
    return float(m.group(1)) * UNITS[m.group(2)]


def parse_wrk(path):
    text = open(path, errors="replace").read()
    m = re.search(r"^\s*(\d+) requests in ", text, re.M)
    requests = int(m.group(1)) if m else 0
    m = re.search(r"^Requests/sec:\s*([0-9.]+)", text, re.M)
    rps = float(m.group(1)) if m else 0.0
    pct = {}
    for p, v in re.findall(r"^\s+(50|99)(?:\.000)?%\s+(\S+)\s*$", text, re.M):
        pct[p] = dur_us(v)
    m = re.search(r"^\s+Latency\s+(\S+)", text, re.M)
    avg = dur_us(m.group(1)) if m else "nan"
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    sockerr = sum(int(x) for x in m.groups()) if m else 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    non2xx = int(m.group(1)) if m else 0
    if requests == 0 and "requests in" not in text:
        raise SystemExit("report.py: no wrk summary in %s" % path)
    print(requests, rps, pct.get("50", "nan"), pct.get("99", "nan"), non2xx, sockerr, avg)


def parse_iperf(path):
    d = json.load(open(path))
    if "error" in d:
        raise SystemExit("report.py: iperf3: %s" % d["error"])
    s = d["end"]["sum_received"]
    print(s["bits_per_second"] / 1e9, int(s["bytes"]))


# ------------------------------------------------------------------ table

PATHS = ["direct", "floor", "mesh", "haproxy"]   # column order


def load(dirname):
    res = {}   # key -> path -> [values in round order]
    for line in open(dirname + "/results.tsv"):
        parts = line.split()
        if len(parts) != 4:
            continue
        _rnd, path, key, val = parts
        try:
            v = float(val)
        except ValueError:
            continue
        res.setdefault(key, {}).setdefault(path, []).append(v)
    meta, notes = {}, []
    for line in open(dirname + "/meta.tsv"):
        k, _, v = line.rstrip("\n").partition("\t")
        if k == "note":
            notes.append(v)
        else:
            meta[k] = v
    return res, meta, notes


def derive(res, meta):
    """Per-round derived values: daemon CPU per request/connection/GB."""
    tick_us = 1e6 / float(meta.get("clk_tck", "100"))
    for test in ("ka", "cc"):
        ticks = res.get(test + "_cpu_ticks", {})
        reqs = res.get(test + "_requests", {})
        for path, tl in ticks.items():
            rl = reqs.get(path, [])
            res.setdefault(test + "_cpu_us", {})[path] = [
                t * tick_us / r if r else math.nan for t, r in zip(tl, rl)]
    ticks = res.get("bulk_cpu_ticks", {})
    for path, tl in ticks.items():
        bl = res.get("bulk_bytes", {}).get(path, [])
        res.setdefault("bulk_cpu_ms_gb", {})[path] = [
            t * tick_us / 1e3 / (b / 1e9) if b else math.nan for t, b in zip(tl, bl)]
    for key in list(res):
        m = re.fullmatch(r"rss_(\d+)_total", key)
        if m:
            n = int(m.group(1))
            for who in ("a", "b", "total"):
                for path, vl in res.get("rss_%d_%s" % (n, who), {}).items():
                    idle = res.get("rss_pre%d_%s" % (n, who), {}).get(path)
                    ok = res.get("hold_%d_ok" % n, {}).get(path, [n])[0] or n
                    if idle:
                        res.setdefault("rss_%d_per_%s" % (n, who), {})[path] = [
                            (v - idle[0]) / ok for v in vl]


def med(res, key, path):
    vl = [v for v in res.get(key, {}).get(path, []) if not math.isnan(v)]
    return statistics.median(vl) if vl else None


def total(res, key, path):
    vl = res.get(key, {}).get(path)
    return sum(vl) if vl else None


def fmt(v, kind):
    if v is None:
        return "—"
    if kind == "rps":
        return "{:,.0f}".format(v)
    if kind == "us":
        return "{:,.0f}".format(v)
    if kind in ("gbps", "cpu", "mib", "kib"):
        return "{:,.2f}".format(v) if abs(v) < 10 else "{:,.1f}".format(v)
    if kind == "int":
        return "{:,.0f}".format(v)
    return str(v)


def table(dirname, txt_out, json_out):
    res, meta, notes = load(dirname)
    derive(res, meta)
    paths = [p for p in PATHS if p in meta.get("paths", "").split(",")]
    holds = [int(x) for x in meta.get("hold_ns", "").split(",") if x]

    # (label, key, kind, ratio: None | "higher" | "lower" | "plain", how)
    rows = [
        ("keep-alive HTTP (wrk -t2 -c32)", None, None, None, None),
        ("  req/s", "ka_rps", "rps", "higher", "med"),
        ("  p50 latency µs", "ka_p50", "us", "lower", "med"),
        ("  p99 latency µs", "ka_p99", "us", "lower", "med"),
        ("  errors: non-2xx", "ka_non2xx", "int", None, "sum"),
        ("  errors: socket", "ka_sockerr", "int", None, "sum"),
        ("  daemon CPU µs / request", "ka_cpu_us", "cpu", "plain", "med"),
        ("new connection per request (wrk -t2 -c8, Connection: close)", None, None, None, None),
        ("  req/s (= conn/s)", "cc_rps", "rps", "higher", "med"),
        ("  p50 latency µs", "cc_p50", "us", "lower", "med"),
        ("  p99 latency µs", "cc_p99", "us", "lower", "med"),
        ("  errors: non-2xx", "cc_non2xx", "int", None, "sum"),
        ("  errors: socket", "cc_sockerr", "int", None, "sum"),
        ("  daemon CPU µs / connection", "cc_cpu_us", "cpu", "plain", "med"),
        ("bulk (iperf3, one stream)", None, None, None, None),
        ("  Gbit/s", "bulk_gbps", "gbps", "higher", "med"),
        ("  daemon CPU ms / GB", "bulk_cpu_ms_gb", "cpu", "plain", "med"),
        ("unloaded latency (wrk -t1 -c1)", None, None, None, None),
        ("  p50 µs", "lat_p50", "us", "lower", "med"),
        ("  p99 µs", "lat_p99", "us", "lower", "med"),
        ("  average µs", "lat_avg", "us", "lower", "med"),
        ("  errors: non-2xx + socket", "lat_err", "int", None, "sum"),
        ("unloaded latency, client and servers on one CPU (taskset -c 0)", None, None, None, None),
        ("  p50 µs", "pin_p50", "us", "lower", "med"),
        ("  p99 µs", "pin_p99", "us", "lower", "med"),
        ("  average µs", "pin_avg", "us", "lower", "med"),
        ("  errors: non-2xx + socket", "pin_err", "int", None, "sum"),
        ("daemon memory (VmRSS; A = meshd A / front haproxy, B = meshd B / back haproxy)", None, None, None, None),
        ("  RSS idle at start, A MiB", "rss_idle_a", "mib", "plain", "med"),
        ("  RSS idle at start, B MiB", "rss_idle_b", "mib", "plain", "med"),
        ("  RSS idle at start, A+B MiB", "rss_idle_total", "mib", "plain", "med"),
    ]
    for n in holds:
        rows += [
            ("  RSS with {:,} idle conns, A+B MiB".format(n), "rss_%d_total" % n, "mib", "plain", "med"),
            ("    per connection, A KiB", "rss_%d_per_a" % n, "kib", "plain", "med"),
            ("    per connection, B KiB", "rss_%d_per_b" % n, "kib", "plain", "med"),
            ("    per connection, A+B KiB", "rss_%d_per_total" % n, "kib", "plain", "med"),
            ("    connections that failed to open", "hold_%d_fail" % n, "int", None, "sum"),
            ("  RSS after they closed, A+B MiB", "rss_post%d_total" % n, "mib", "plain", "med"),
        ]
    rows += [
        ("  RSS idle after all runs, A+B MiB", "rss_after_total", "mib", "plain", "med"),
    ]
    # lat_err, pin_err: sum of both error kinds
    for t in ("lat", "pin"):
        for path in paths:
            a = res.get(t + "_non2xx", {}).get(path)
            b = res.get(t + "_sockerr", {}).get(path)
            if a is not None or b is not None:
                res.setdefault(t + "_err", {})[path] = (a or []) + (b or [])
    # RSS values are stored in KiB; show MiB
    for key in list(res):
        if re.fullmatch(r"rss_(idle|after|post\d+|\d+)_(a|b|total)", key):
            res[key] = {p: [v / 1024 for v in vl] for p, vl in res[key].items()}

    # Value columns, then ratio columns "a/b"; a column shows when every
    # path it names was run. floor (plain-TCP haproxy pair) is a reference:
    # floor/direct is what the three-hop topology alone costs.
    head = ["measurement", "direct", "floor", "mesh", "haproxy",
            "floor/direct", "mesh/direct", "haproxy/direct", "mesh/haproxy"]
    vs_direct = [h for h in head if h.endswith("/direct")]
    lines_out = []
    out = {}
    body = []
    section = ""
    for label, key, kind, ratio, how in rows:
        if key is None:
            body.append([label])
            section = label
            continue
        vals = {}
        for p in paths:
            vals[p] = (med if how == "med" else total)(res, key, p)
        if all(v is None for v in vals.values()):
            continue
        unit = {"rps": "req/s", "us": "µs", "gbps": "Gbit/s", "mib": "MiB", "kib": "KiB",
                "int": "count", "cpu": "ms/GB" if key.startswith("bulk") else "µs"}[kind]
        out[key] = {"label": section + ": " + label.strip(), "unit": unit,
                    "median" if how == "med" else "sum": vals,
                    "rounds": {p: res.get(key, {}).get(p) for p in paths}}

        def ratio_of(a, b):
            if ratio is None or a is None or b is None or b == 0:
                return "—"
            s = "{:.2f}x".format(a / b)
            if ratio == "lower":
                s += " {:+,.0f}".format(a - b)   # µs (the legend says so)
            return s
        row = [label]
        for h in head[1:]:
            a, _, b = h.partition("/")
            if not b:
                row.append(fmt(vals.get(a), kind))
            elif h in vs_direct and kind not in ("rps", "us", "gbps"):
                row.append("—")
            else:
                row.append(ratio_of(vals.get(a), vals.get(b)))
        body.append(row)

    cols = [i for i, h in enumerate(head)
            if i == 0 or all(p in paths for p in h.split("/"))]
    widths = {i: len(head[i]) for i in cols}
    for r in body:
        if len(r) > 1:
            for i in cols:
                widths[i] = max(widths[i], len(r[i]))

    def emit(r):
        if len(r) == 1:
            lines_out.append(r[0])
            return
        cells = []
        for i in cols:
            cells.append(r[i].ljust(widths[i]) if i == 0 else r[i].rjust(widths[i]))
        lines_out.append("  ".join(cells).rstrip())

    title = "libmesh benchmark: %s" % meta.get("mode", "")
    lines_out.append(title)
    lines_out.append("machine: %s CPUs (%s), %s, kernel %s" % (
        meta.get("nproc"), meta.get("cpu"), meta.get("mem"), meta.get("kernel")))
    lines_out.append("libmesh: %s   date: %s   wall time: %s s" % (
        meta.get("commit"), meta.get("date"), meta.get("wall_s")))
    lines_out.append("method: %s round(s), %s s per run, paths interleaved (order rotated each round), "
                     "medians over rounds; error counts summed" % (meta.get("rounds"), meta.get("dur")))
    lines_out.append("tools: %s" % meta.get("versions", ""))
    lines_out.append("ratio columns a/b: median of a over median of b; on latency rows followed by "
                     "the difference a - b in µs")
    lines_out.append("")
    emit(head)
    emit(["-" * widths[i] if i in widths else "" for i in range(len(head))])
    for r in body:
        emit(r)
    if notes:
        lines_out.append("")
        lines_out.append("notes:")
        for n in notes:
            lines_out.append("  - " + n)
    text = "\n".join(lines_out) + "\n"
    sys.stdout.write(text)
    with open(txt_out, "w") as f:
        f.write(text)

    def clean(o):
        if isinstance(o, float) and math.isnan(o):
            return None
        if isinstance(o, dict):
            return {k: clean(v) for k, v in o.items()}
        if isinstance(o, list):
            return [clean(v) for v in o]
        return o
    doc = {"meta": meta, "notes": notes, "paths": paths, "results": clean(out)}
    with open(json_out, "w") as f:
        json.dump(doc, f, indent=1, ensure_ascii=False)
        f.write("\n")


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "wrk":
        parse_wrk(sys.argv[2])
    elif len(sys.argv) >= 3 and sys.argv[1] == "iperf":
        parse_iperf(sys.argv[2])
    elif len(sys.argv) >= 5 and sys.argv[1] == "table":
        table(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.stderr.write(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main()
