"""Annotation save throughput over real HTTP, against a trivial endpoint in the same run.

Starts gunicorn on loopback with a fresh database (SQLite by default, or --database-url), then
with N concurrent clients (keep-alive connections, token auth) measures:
  (a) PUT /api/images/{id}/annotations with 50 boxes per request (each client edits its own
      image, following revisions, so every save is a real replace, never a 412), and
  (b) GET /api/projects/{id}/ — authenticated, one membership lookup: the trivial baseline.
Prints throughput and p50/p95 latency of both and the ratio; the budget is ratio >= 0.40.
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def setup_data(env: dict, clients: int) -> dict:
    """Migrate a fresh database and create a user, a project, labels and one image per client."""
    script = f"""
import django, json
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
call_command("flush", interactive=False, verbosity=0)  # a scratch database: start empty every run
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from annotate import services
from annotate.demo import draw_shapes_image
from annotate.imaging import check_image_bytes
from annotate.uploads import images_store_checked
import random
user = get_user_model().objects.create_user("bench", password="bench-pass")
project = services.project_create(name="bench", created_by=user)
label = services.label_create(project=project, name="box")
rng = random.Random(0)
checked = [(f"{{i}}.jpg", check_image_bytes(draw_shapes_image(rng)[0])) for i in range({clients})]
images = images_store_checked(project=project, checked=checked, user=user, source="upload").created
print(json.dumps({{"token": Token.objects.create(user=user).key, "project": project.pk,
                  "label": label.pk, "images": [i.pk for i in images]}}))
"""
    out = subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def boxes(label: int, rng: random.Random, n: int = 50) -> list[dict]:
    result = []
    for _ in range(n):
        w, h = rng.uniform(5, 100), rng.uniform(5, 100)
        result.append({"label": label, "kind": "box", "geometry": {
            "x": rng.uniform(0, 640 - w), "y": rng.uniform(0, 480 - h), "w": w, "h": h}})
    return result


def run_phase(port: int, clients: int, seconds: float, make_request, states: list[dict]) -> list[float]:
    """Each client thread loops over requests on its own keep-alive connection until time is up."""
    latencies: list[float] = []
    lock = threading.Lock()
    errors: list[str] = []
    deadline = time.perf_counter() + seconds

    def client(index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        state = states[index]
        mine = []
        while time.perf_counter() < deadline:
            method, path, body, headers, expect = make_request(index, state)
            start = time.perf_counter()
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            payload = response.read()
            mine.append(time.perf_counter() - start)
            if response.status != expect:
                errors.append(f"{method} {path}: {response.status} {payload[:200]!r}")
                break
            if method == "PUT":
                state["revision"] = json.loads(payload)["revision"]
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise SystemExit(f"requests failed: {errors[:3]}")
    return latencies


def summary(latencies: list[float], seconds: float) -> dict:
    ordered = sorted(latencies)
    return {
        "requests": len(ordered),
        "throughput_rps": round(len(ordered) / seconds, 1),
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds of the two phases")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--database-url", default=None, help="a scratch database (it is emptied); default: a fresh SQLite file (WAL)")
    args = parser.parse_args()

    data_dir = tempfile.mkdtemp(prefix="lensforge-bench-")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.base", "DATA_DIR": data_dir, "DEBUG": "0",
           "LOG_LEVEL": "WARNING", "ALLOWED_HOSTS": "127.0.0.1"}
    if args.database_url:
        env["DATABASE_URL"] = args.database_url
    info = setup_data(env, args.clients)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi", "-b", f"127.0.0.1:{port}", "-w", str(args.workers),
         "--log-level", "warning"],
        env=env, cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("gunicorn did not start")
                time.sleep(0.2)

        auth = {"Authorization": f"Token {info['token']}"}
        rng = random.Random(1)
        bodies = [json.dumps({"annotations": boxes(info["label"], rng)}) for _ in range(20)]

        def trivial(index, state):
            return "GET", f"/api/projects/{info['project']}/", None, auth, 200

        def put(index, state):
            revision = state["revision"]
            headers = {**auth, "Content-Type": "application/json", "If-Match": f'"{revision}"'}
            body = bodies[rng.randrange(len(bodies))]
            return "PUT", f"/api/images/{info['images'][index]}/annotations", body, headers, 200

        states = [{"revision": 0} for _ in range(args.clients)]  # each client follows its image's revision
        run_phase(port, args.clients, 2.0, trivial, states)  # warm-up: imports, connections
        run_phase(port, args.clients, 2.0, put, states)
        # Alternate short rounds of both, so load from elsewhere on a shared machine hits both alike.
        base_latencies: list[float] = []
        put_latencies: list[float] = []
        slice_seconds = args.seconds / args.rounds
        for _ in range(args.rounds):
            base_latencies += run_phase(port, args.clients, slice_seconds, trivial, states)
            put_latencies += run_phase(port, args.clients, slice_seconds, put, states)
        base = summary(base_latencies, args.seconds)
        puts = summary(put_latencies, args.seconds)
    finally:
        server.terminate()
        server.wait(timeout=15)

    ratio = puts["throughput_rps"] / base["throughput_rps"]
    database = "postgresql" if args.database_url else "sqlite"
    print(f"database: {database}, {args.clients} clients, {args.workers} gunicorn workers, {args.seconds:g}s per phase in {args.rounds} alternating rounds")
    print(f"trivial GET /api/projects/{{id}}/     : {base['throughput_rps']:8.1f} req/s  p50 {base['p50_ms']:7.2f} ms  p95 {base['p95_ms']:7.2f} ms")
    print(f"PUT 50 boxes /api/images/{{id}}/annot.: {puts['throughput_rps']:8.1f} req/s  p50 {puts['p50_ms']:7.2f} ms  p95 {puts['p95_ms']:7.2f} ms")
    print(f"ratio PUT / trivial: {ratio:.2f} (budget >= 0.40): {'OK' if ratio >= 0.40 else 'OVER BUDGET'}")
    print(json.dumps({"benchmark": "annotation_api", "database": database, "clients": args.clients,
                      "trivial": base, "put_50_boxes": puts, "ratio": round(ratio, 3), "budget_ok": ratio >= 0.40}))


if __name__ == "__main__":
    main()
