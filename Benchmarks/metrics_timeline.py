#!/usr/bin/env python3
"""A benchmark run as Prometheus would have seen it, drawn with gnuplot.

  metrics_timeline.py scrape BASE_URL OUT.jsonl   GET BASE_URL/metrics every second until
                                                  SIGTERM; one JSON line per scrape
  metrics_timeline.py plot IN.jsonl OUT.png TITLE issues and refusals (by reason) per second and
                                                  the p99 of POST /coupons/issue per second
"""
import json, math, os, re, signal, subprocess, sys, tempfile, time, urllib.request

SAMPLE = re.compile(r'^([a-z_]+)\{([^}]*)\} (\S+)$')
LABEL = re.compile(r'([a-z_]+)="([^"]*)"')


def parse(text):
    """The series the picture needs: issued in all, refused by reason, and the issue route's
    duration histogram (all statuses together) by bucket bound."""
    issued, refused, buckets = 0.0, {}, {}
    for line in text.splitlines():
        match = SAMPLE.match(line)
        if not match:
            continue
        name, labels, value = match.group(1), dict(LABEL.findall(match.group(2))), float(match.group(3))
        if name == "commerce_coupons_issued_total":
            issued += value
        elif name == "commerce_coupons_rejected_total":
            refused[labels["reason"]] = refused.get(labels["reason"], 0) + value
        elif (name == "commerce_http_request_duration_seconds_bucket" and labels.get("route") == "/coupons/issue"
              and labels.get("method") == "POST"):
            bound = math.inf if labels["le"] == "+Inf" else float(labels["le"])
            buckets[bound] = buckets.get(bound, 0) + value
    return {"issued": issued, "refused": refused, "buckets": sorted(buckets.items())}


def scrape(base, out):
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    start = time.monotonic()
    with open(out, "w") as file:
        while not stopping:
            try:
                with urllib.request.urlopen(f"{base}/metrics", timeout=2) as response:
                    sample = parse(response.read().decode())
                sample["t"] = round(time.monotonic() - start, 3)
                file.write(json.dumps(sample) + "\n")
                file.flush()
            except OSError:
                pass
            time.sleep(max(0, 1 - (time.monotonic() - start) % 1))


def p99(before, after):
    """histogram_quantile(0.99) of the requests between two scrapes, in ms; None without any."""
    counts = [(bound, a - b) for (bound, a), (_, b) in zip(after, before)]
    total = counts[-1][1] if counts else 0
    if total <= 0:
        return None
    rank, lower, below = 0.99 * total, 0.0, 0.0
    for bound, cumulative in counts:
        if cumulative >= rank:
            if math.isinf(bound):
                return lower * 1000
            inside = cumulative - below
            return (lower + (bound - lower) * ((rank - below) / inside if inside else 1)) * 1000
        lower, below = bound, cumulative
    return None


def plot(source, png, title):
    samples = [json.loads(line) for line in open(source) if line.strip()]
    if len(samples) < 2:
        sys.exit(f"{source}: fewer than two scrapes")
    # Only the reasons that happened: seven flat lines at 0 would crowd the legend.
    reasons = sorted({r for s in samples for r, count in s["refused"].items() if count > 0})
    data = tempfile.NamedTemporaryFile("w", suffix=".dat", delete=False)
    for before, after in zip(samples, samples[1:]):
        seconds = after["t"] - before["t"]
        rates = [(after["issued"] - before["issued"]) / seconds]
        rates += [(after["refused"].get(r, 0) - before["refused"].get(r, 0)) / seconds for r in reasons]
        latency = p99(before["buckets"], after["buckets"]) if before["buckets"] and after["buckets"] else None
        data.write(" ".join([f"{after['t']:.1f}"] + [f"{r:.1f}" for r in rates] + [f"{latency:.2f}" if latency is not None else "NaN"]) + "\n")
    data.close()
    series = [f"'{data.name}' using 1:2 with lines lw 2 title 'issued'"]
    series += [f"'' using 1:{3 + i} with lines lw 2 title 'refused: {r.replace('_', ' ')}'" for i, r in enumerate(reasons)]
    p99_column = 3 + len(reasons)
    script = f"""
set terminal pngcairo size 1000,640 font 'sans,10'
set output '{png}'
set multiplot layout 2,1 title '{title}'
set grid
# The same margins in both panels, so that their time axes line up.
set lmargin at screen 0.08
set rmargin at screen 0.76
set key outside right top
set ylabel 'requests per second'
set format y '%.0s%c'
unset xlabel
plot {', '.join(series)}
set ylabel 'in the server, ms (histogram buckets)'
set xlabel 'seconds (scraped from /metrics every second)'
set format y '%g'
set yrange [0:*]
plot '{data.name}' using 1:{p99_column} with linespoints pt 7 ps 0.5 lw 2 title 'p99, POST /coupons/issue'
unset multiplot
"""
    subprocess.run(["gnuplot"], input=script, text=True, check=True)
    os.unlink(data.name)


if __name__ == "__main__":
    if sys.argv[1:2] == ["scrape"] and len(sys.argv) == 4:
        scrape(sys.argv[2], sys.argv[3])
    elif sys.argv[1:2] == ["plot"] and len(sys.argv) == 5:
        plot(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(__doc__)
