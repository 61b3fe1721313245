"""Server fan-out: N SSE watchers of one live 5,000-event deploy (issue 11).

Starts the embedded server as its own process, deploys an install that waits for a go-file and
then prints ``--lines`` lines in ~2.5 s, and attaches ``N`` raw-socket ``get_deployment`` watchers
from two client processes (so the watchers do not share the server's core or loop). Once every
watcher has its stream open the go-file is created. Each watcher parses ``id`` and ``t`` out of
the SSE bytes and records ``receipt - t`` (same machine, same clock) and whether it got every
seq exactly once. Measured per round:

* the p99 of event latency (server ``t`` -> receipt at the watcher) over all watchers' events;
* the deploy's own duration (go -> ``done`` on its deploy stream) with N watchers ÷ with none but
  its own stream, the two interleaved round by round;
* the server's RSS: peak during the round, and ~2 s after the watchers went away, against idle.

Honest caveat: on 2 cores, N=500 watchers in Python are themselves slow readers; a receipt time
includes the client's own parsing of every event of every watcher.

    python bench/bench_fanout.py [--watchers 500] [--lines 5000] [--repeat 3] [--row] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from deploytui.client.local import LocalServer, spawn_server

USER, PASSWORD = "admin", "bench-password"
CLIENT_PROCESSES = 2
P99_TARGET_MS = 250
DURATION_TARGET = 1.2
RSS_TARGET_MIB = 200

INSTALL = (
    "import os, sys, time\n"
    "n, go = int(sys.argv[1]), sys.argv[2]\n"
    "while not os.path.exists(go): time.sleep(0.005)\n"
    "w = sys.stdout.write\n"
    "for i in range(n):\n"
    "    w(f'npm http fetch GET 200 https://registry.npmjs.org/package-{i} {i % 80}ms (cache hit)\\n')\n"
    "    if i % 50 == 49:\n"
    "        sys.stdout.flush(); time.sleep(0.025)\n"
)
# The last id of a chunk, and every event's t (always the data object's last key).
LAST_ID = re.compile(rb'.*\nid: (\d+)\n', re.S)
T = re.compile(rb'"t":(\d+)\}\n')


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def payload() -> str:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in {"package.json": json.dumps({"name": "fanout", "version": "1.0.0"}),
                           "install.py": INSTALL}.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return base64.b64encode(buf.getvalue()).decode()


def rss_mib(pid: int) -> float:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:  # the server has stopped
        return 0.0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# ------------------------------------------------------------------ watcher child process

async def watch(host: str, port: int, deployment_id: str, opened: asyncio.Event,
                latencies: Counter) -> tuple[int, int, bool]:
    """One raw-socket watcher; returns (events, highest seq, every seq once and in order)."""
    reader, writer = await asyncio.open_connection(host, port)
    body = json.dumps({"operation": "get_deployment", "deployment_id": deployment_id}).encode()
    auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    writer.write(f"POST / HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Basic {auth}\r\n"
                 "Accept: text/event-stream\r\nContent-Type: application/json\r\n"
                 f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
    await writer.drain()
    buf, count, last, in_order = b"", 0, 0, True
    while True:
        data = await reader.read(1 << 16)
        if not data:
            break
        now = time.time_ns() // 1_000_000
        buf += data
        if not opened.is_set() and b"stream open" in buf:
            opened.set()
        end = buf.rfind(b"\n\n")
        if end < 0:
            continue
        complete, buf = buf[:end + 2], buf[end + 2:]
        # Events of one read share a receipt time: count them by t (in C), then add per t.
        stamps = Counter(T.findall(complete))
        for t, n in stamps.items():
            latencies[now - int(t)] += n
        count += sum(stamps.values())
        if (tail := LAST_ID.match(b"\n" + complete)) is not None:
            last = int(tail.group(1))
            in_order = in_order and last == count  # every seq up to here exactly once
        if b"event: done" in complete:
            break
    writer.close()
    return count, last, in_order


async def child_main(url: str, deployment_id: str, count: int) -> None:
    host, port = url.removeprefix("http://").rstrip("/").split(":")
    latencies: Counter = Counter()
    opened = [asyncio.Event() for _ in range(count)]
    tasks = [asyncio.create_task(watch(host, int(port), deployment_id, o, latencies)) for o in opened]
    await asyncio.gather(*(o.wait() for o in opened))
    print("ready", flush=True)
    cpu = time.process_time()
    results = await asyncio.gather(*tasks)
    print(json.dumps({"results": results, "latencies": list(latencies.items()),
                      "cpu": time.process_time() - cpu}), flush=True)


# ------------------------------------------------------------------ the round driver

def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used (to tell a busy server from slow clients)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class RssSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop = pid, 0.0, threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.05):
            self.peak = max(self.peak, rss_mib(self.pid))


async def one_round(srv: LocalServer, watchers: int, lines: int, tmp: Path) -> dict:
    """Deploy once with ``watchers`` raw watchers besides the deploy's own stream."""
    go = tmp / f"go-{time.monotonic_ns()}"
    body = {"operation": "deploy_component", "project": "fanout", "payload": payload(),
            "install_command": f'"$DEPLOYTUI_PYTHON" install.py {lines} {go}'}
    pid = srv.process.pid  # type: ignore[union-attr]
    idle = rss_mib(pid)
    async with httpx.AsyncClient(auth=(USER, PASSWORD), timeout=None) as http, \
            http.stream("POST", srv.url + "/", json=body, headers={"accept": "text/event-stream"}) as deploy:
        deployment_id = deploy.headers["x-deployment-id"]
        children = []
        per_child = [watchers // CLIENT_PROCESSES + (i < watchers % CLIENT_PROCESSES) for i in range(CLIENT_PROCESSES)]
        for count in filter(None, per_child):
            children.append(await asyncio.create_subprocess_exec(
                sys.executable, __file__, "--child", srv.url, deployment_id, str(count),
                stdout=subprocess.PIPE, limit=1 << 26))
        for child in children:
            assert (await child.stdout.readline()).strip() == b"ready"  # type: ignore[union-attr]
        sampler = RssSampler(pid)
        sampler.start()
        cpu = cpu_seconds(pid)
        started = time.perf_counter()
        go.touch()
        async for chunk in deploy.aiter_bytes():
            if b"event: done" in chunk:
                break
        duration = time.perf_counter() - started
        cpu = cpu_seconds(pid) - cpu
    outputs = [json.loads(await child.stdout.readline()) for child in children]  # type: ignore[union-attr]
    for child in children:
        await child.wait()
    sampler.stop.set()
    await asyncio.sleep(2.0)  # let the server drop the finished streams
    after = rss_mib(pid)
    latencies: Counter = Counter()
    results = []
    for out in outputs:
        latencies.update({int(k): v for k, v in out["latencies"]})
        results += out["results"]
    top = max((r[1] for r in results), default=0)
    lost = sum(top - r[0] for r in results) + sum(1 for r in results if not r[2])
    client_cpu = sum(out["cpu"] for out in outputs)
    return {"duration": duration, "cpu": cpu, "client_cpu": client_cpu, "p99": percentile(latencies, 0.99),
            "p50": percentile(latencies, 0.5), "lost": lost,
            "idle": idle, "peak": max(sampler.peak, idle), "after": after, "events": top}


def percentile(counts: Counter, q: float) -> float:
    total = sum(counts.values())
    if not total:
        return 0.0
    rank, seen = q * total, 0
    for value in sorted(counts):
        seen += counts[value]
        if seen >= rank:
            return float(value)
    return float(max(counts))


def row(measure: str, baseline: str, deploytui: str, ratios: list[float], target: str, met: bool) -> None:
    median = statistics.median(ratios)
    print(json.dumps({"measure": measure, "baseline": baseline, "deploytui": deploytui,
                      "ratio": round(median, 3), "target": target, "met": met, "repeats": len(ratios),
                      "ratio_min": round(min(ratios), 3), "ratio_median": round(median, 3)}), flush=True)


async def bench(watchers: int, lines: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        srv = spawn_server(Path(tmp) / "data", user=USER, password=PASSWORD)
        try:
            await one_round(srv, 0, min(lines, 500), Path(tmp))  # warm-up
            alone, crowd = [], []
            for i in range(repeat):
                order = (0, watchers) if i % 2 == 0 else (watchers, 0)
                for n in order:
                    result = await one_round(srv, n, lines, Path(tmp))
                    (crowd if n else alone).append(result)
                    progress(f"bench_fanout {i + 1}/{repeat} N={n}: deploy {result['duration']:.2f}s, "
                             f"CPU server {result['cpu']:.2f}s clients {result['client_cpu']:.2f}s, p99 {result['p99']:.0f} ms, "
                             f"p50 {result['p50']:.0f} ms, lost {result['lost']}, "
                             f"RSS idle {result['idle']:.0f} peak {result['peak']:.0f} "
                             f"after {result['after']:.0f} MiB, {result['events']} events")
        finally:
            srv.stop()
    p99s = [r["p99"] for r in crowd]
    lost = sum(r["lost"] for r in crowd)
    events = crowd[0]["events"]
    row(f"server fan-out: N={watchers} SSE watchers of a {events:,}-event deploy, p99 event latency "
        "(server t → receipt), ms (ratio column: p99 ms)",
        "target 250 ms",
        f"p99 {statistics.median(p99s):,.0f} ms (median), lost {lost}",
        p99s, f"≤ {P99_TARGET_MS} ms, 0 lost",
        statistics.median(p99s) <= P99_TARGET_MS and lost == 0)
    durations = [c["duration"] / a["duration"] for a, c in zip(alone, crowd, strict=True)]
    row(f"server fan-out: the deploy's own duration with N={watchers} watchers ÷ with one",
        f"one watcher {statistics.median(r['duration'] for r in alone):.2f} s (median)",
        f"N={watchers} {statistics.median(r['duration'] for r in crowd):.2f} s (median)",
        durations, f"≤ {DURATION_TARGET}×", statistics.median(durations) <= DURATION_TARGET)
    peaks = [r["peak"] for r in crowd]
    idle = min(r["idle"] for r in alone + crowd)  # before any watcher came (after the warm-up)
    afters = [r["after"] - idle for r in crowd]
    row(f"server fan-out: server RSS at N={watchers} (ratio column: peak MiB)",
        f"idle {idle:.0f} MiB (before any watcher)",
        f"peak {statistics.median(peaks):.0f} MiB, 2 s after {statistics.median(afters):+.0f} MiB vs idle",
        peaks, f"≤ {RSS_TARGET_MIB} MiB, back near idle",
        statistics.median(peaks) <= RSS_TARGET_MIB and statistics.median(afters) <= 0.25 * RSS_TARGET_MIB)


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        asyncio.run(child_main(sys.argv[2], sys.argv[3], int(sys.argv[4])))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--watchers", type=int, default=None, help="N (default 500; 50 with --quick)")
    parser.add_argument("--lines", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=None, help="rounds (default 3; 1 with --quick)")
    parser.add_argument("--row", action="store_true", help="print the issue-11 rows as JSON")
    parser.add_argument("--quick", action="store_true", help="N=50, 2,000 lines, one round")
    args = parser.parse_args()
    watchers = args.watchers or (50 if args.quick else 500)
    lines = 2000 if args.quick and args.lines == 5000 else args.lines
    asyncio.run(bench(watchers, lines, args.repeat or (1 if args.quick else 3)))


if __name__ == "__main__":
    main()
