"""Many users at once: N sessions, each with a MiniLM loaded, calling ``/predict`` in a loop.

Usage:
    python -m bench.serve_load [--clients 16 64] [--mode burst|loop] [--client http|gradio] [--seconds 20]
        [--procs 2] [--train-rows 2000] [--model-dir DIR] [--phases idle training]

Starts the app as a subprocess (``python app.py --port P``; with ``--data-dir`` in a temporary folder when the
app has that option), saves a MiniLM predictor folder (all-MiniLM-L6-v2 with a 2-class head; speed does not
depend on training; ``--model-dir`` uses a fine-tuned folder instead), and for each client count N:

1. opens N sessions (``gradio_client.Client``), each loading the folder through ``/load_model``;
2. **idle**: all N call ``/predict`` with SST-2 test sentences for ``--seconds``;
3. **training**: another session uploads ``--train-rows`` SST-2 rows and starts a 1-epoch MiniLM training
   through ``/train``; once it runs, the N clients loop again for ``--seconds``; the training must then finish.

``--client http`` (default): the timed ``/predict`` calls are raw HTTP, as the browser's own JavaScript client
makes them, from one process with all N clients as asyncio coroutines on one ``httpx.AsyncClient``; each call
uses its session's ``session_hash`` (the one its ``gradio_client`` loaded the model with, so the same per-session
model). The request follows the event's config: a queued event (``queue`` true) is ``POST
/gradio_api/queue/join`` (``data``, ``fn_index``, ``trigger_id``, ``session_hash``) then ``GET
/gradio_api/queue/data?session_hash=...`` (Server-Sent Events) up to its ``process_completed`` message; an event
with ``queue=False`` is one ``POST /gradio_api/run/predict`` with the same body. ``--client gradio``: the timed
calls are ``gradio_client.Client.predict`` from threads spread over ``--procs`` client processes. Those clients
are made with ``ssl_verify=False``: the server is plain ``http://`` on localhost, so no certificate is ever checked,
but with gradio_client's default (``--ssl-verify``) every ``predict`` posts through a new ``httpx`` client that loads
the CA bundle, about 45 ms of CPU per prediction on the server's own cores.

``--mode burst`` (default) fires all N requests at the same moment once every ``--period`` seconds (the issue's
"16 firing at once"); ``--mode loop`` runs closed loops (each client calls again as soon as it is answered: the
server's saturated throughput). Prints per phase: requests, errors, p50/p95/max latency (seconds), throughput
(predictions/s), the server's and the clients' CPU milliseconds per prediction (the clients run on the same
cores) and the server's RSS; writes ``bench/results/serve_load_<mode>.json``. Acceptance (issue 15, idle 2-core
machine): 16 clients p95 <= 0.25 s idle and <= 0.5 s while training, 0 errors, the training finishes.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import json
import multiprocessing as mp
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

from bench.common import REPO, SHARED_DATA, machine, print_table, write_json

CLASSES = ["negative", "positive"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _proc_stat(pid: int) -> tuple[float, float]:
    """(RSS MiB, user+system CPU seconds) of a process."""
    rss = float("nan")
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return rss, cpu


def start_app(port: int, data_dir: str | None, tmp_dir: Path, timeout_s: float = 180.0) -> subprocess.Popen:
    """Start ``python app.py`` on ``port`` and wait for HTTP 200; the server's log goes to a temporary file.

    The server's temporary folder (its sessions' folders, Gradio's file cache) is ``tmp_dir``, which the caller
    deletes: a terminated server does not remove its sessions.
    """
    cmd = [sys.executable, "app.py", "--port", str(port)] + (["--data-dir", data_dir] if data_dir else [])
    log = open(Path(tempfile.gettempdir()) / f"kdemo-serve-load-{port}.log", "w")  # noqa: SIM115 - lives with the server
    # the server runs as deployed: torch's default threads, whatever thread caps this shell exports for itself
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    env["GRADIO_ANALYTICS_ENABLED"] = "False"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    env["TMPDIR"] = str(tmp_dir)
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=env)
    start = time.time()
    while time.time() - start < timeout_s:
        if proc.poll() is not None:
            raise SystemExit(f"the app exited with {proc.returncode}; see {log.name}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"the app did not answer within {timeout_s} s; see {log.name}")


def app_has_data_dir() -> bool:
    out = subprocess.run([sys.executable, "app.py", "--help"], cwd=REPO, capture_output=True, text=True, timeout=120,
                         check=False)
    return "--data-dir" in out.stdout


def save_minilm(folder: Path) -> Path:
    """all-MiniLM-L6-v2 with a 2-class head, saved as a predictor folder (as ``bench.predict`` does)."""
    import torch

    import kdemo

    torch.manual_seed(0)
    t = kdemo.Transformer(None, maxlen=128, class_names=CLASSES)
    t.task = "single_label"
    return kdemo.get_predictor(t.get_classifier(), t).save(folder)


def _client_proc(url: str, folder: str, n: int, texts: list[str], args: dict, phases: int, barrier, results) -> None:
    """One client process: ``n`` sessions; for each phase, wait at the barrier, then call ``/predict``.

    ``burst`` mode: every ``period_s`` all sessions (of every process) fire one request at the same moment;
    ``loop`` mode: each session calls again as soon as it has its answer (a closed loop).
    """
    from gradio_client import Client

    def open_session(_) -> Client:
        c = Client(url, verbose=False, ssl_verify=args["ssl_verify"])
        status = c.predict(folder, api_name="/load_model")[0]
        if "Loaded" not in status:
            raise SystemExit(f"/load_model failed: {status}")
        return c

    with concurrent.futures.ThreadPoolExecutor(4) as pool:  # the server loads (hashes) the folder per session
        clients = list(pool.map(open_session, range(n)))
    endpoint = _predict_endpoint(url) if args["client"] == "http" else None
    for phase in range(phases):
        barrier.wait()
        cpu0 = time.process_time()
        if endpoint is None:
            lat, errors = _run_phase(clients, texts, args)
        else:
            lat, errors = asyncio.run(_run_phase_http(url, endpoint, [c.session_hash for c in clients], texts, args))
        results.put((phase, lat, errors, time.process_time() - cpu0))
    for c in clients:
        c.close()


def _run_phase(clients: list, texts: list[str], args: dict) -> tuple[list[float], list[str]]:
    """Every client calls ``/predict`` from its own thread for ``args["seconds"]``; returns latencies and errors."""
    lat: list[float] = []
    errors: list[str] = []
    begin = time.time() + 0.2  # the processes passed the barrier within milliseconds of each other
    end = begin + args["seconds"]
    period = args["period_s"]

    def call(i: int, text: str) -> None:
        t0 = time.perf_counter()
        try:
            out = clients[i].predict(text, "", api_name="/predict")
            if not isinstance(out, dict) or {c["label"] for c in out["confidences"]} != set(CLASSES):
                errors.append(f"unexpected answer {str(out)[:80]}")
        except Exception as exc:  # noqa: BLE001 - counted
            errors.append(f"{type(exc).__name__}: {str(exc)[:120]}")
        lat.append(time.perf_counter() - t0)

    def loop(i: int) -> None:
        k = i
        while time.time() < end:
            if args["mode"] == "burst":  # wait for the next round; a client still busy skips the rounds it missed
                round_start = begin + period * max(0, int(np.ceil((time.time() - begin) / period)))
                if round_start >= end:
                    break
                time.sleep(max(0.0, round_start - time.time()))
            call(i, texts[k % len(texts)])
            k += len(clients)

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(len(clients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return lat, errors


def _predict_endpoint(url: str) -> dict:
    """The ``/predict`` event as the page's config describes it: its ``fn_index``, trigger and whether it is queued."""
    import httpx

    config = httpx.get(url + "config", timeout=60).json()
    dep = next(d for d in config["dependencies"] if d.get("api_name") == "predict")
    return {"fn_index": dep["id"], "trigger_id": dep["targets"][0][0], "queue": dep.get("queue") is not False,
            "prefix": config.get("api_prefix", "/gradio_api").strip("/")}


def _check_label(out) -> str | None:
    """None if ``out`` is ``/predict``'s answer (the gr.Label value with both classes), else what is wrong."""
    try:
        label = out["data"][0]
        if {c["label"] for c in label["confidences"]} == set(CLASSES):
            return None
    except (KeyError, IndexError, TypeError):
        pass
    return f"unexpected answer {str(out)[:120]}"


async def _call_http(http, url: str, ep: dict, session_hash: str, text: str) -> str | None:
    """One ``/predict`` call as the browser makes it; returns None, or the error."""
    body = {"data": [text, ""], "event_data": None, "fn_index": ep["fn_index"], "trigger_id": ep["trigger_id"],
            "session_hash": session_hash}
    base = url + ep["prefix"]
    if not ep["queue"]:  # queue=False: the browser posts to /run/<api_name> and gets the outputs in the answer
        r = await http.post(f"{base}/run/predict", json=body)
        if r.status_code != 200:
            return f"HTTP {r.status_code}: {r.text[:120]}"
        return _check_label(r.json())
    r = await http.post(f"{base}/queue/join", json=body)
    if r.status_code != 200:
        return f"HTTP {r.status_code}: {r.text[:120]}"
    event_id = r.json()["event_id"]
    async with http.stream("GET", f"{base}/queue/data", params={"session_hash": session_hash}) as stream:
        async for line in stream.aiter_lines():
            if not line.startswith("data:"):
                continue
            msg = json.loads(line[5:])
            if msg.get("msg") == "process_completed" and msg.get("event_id") == event_id:
                if not msg.get("success"):
                    return f"failed: {str(msg.get('output'))[:120]}"
                return _check_label(msg["output"])
            if msg.get("msg") in ("close_stream", "unexpected_error"):
                return f"stream ended: {str(msg)[:120]}"
    return "stream ended without process_completed"


async def _run_phase_http(url: str, ep: dict, hashes: list[str], texts: list[str], args: dict) -> tuple[list[float], list[str]]:
    """:func:`_run_phase` with raw HTTP: every session is a coroutine on one ``httpx.AsyncClient``."""
    import httpx

    lat: list[float] = []
    errors: list[str] = []
    n = len(hashes)
    limits = httpx.Limits(max_connections=2 * n + 8, max_keepalive_connections=2 * n + 8)
    loop = asyncio.get_running_loop()
    async with httpx.AsyncClient(timeout=120, limits=limits) as http:
        begin = time.time() + 0.2
        end = begin + args["seconds"]
        period = args["period_s"]

        async def client(i: int) -> None:
            k = i
            while time.time() < end:
                if args["mode"] == "burst":
                    round_start = begin + period * max(0, int(np.ceil((time.time() - begin) / period)))
                    if round_start >= end:
                        break
                    await asyncio.sleep(max(0.0, round_start - time.time()))
                t0 = loop.time()
                try:
                    err = await _call_http(http, url, ep, hashes[i], texts[k % len(texts)])
                except Exception as exc:  # noqa: BLE001 - counted
                    err = f"{type(exc).__name__}: {str(exc)[:120]}"
                lat.append(loop.time() - t0)
                if err:
                    errors.append(err)
                k += n

        await asyncio.gather(*(client(i) for i in range(n)))
    return lat, errors


def _start_training(url: str, rows: int) -> object:
    """A separate session uploads ``rows`` SST-2 rows and starts a 1-epoch MiniLM training; returns its client."""
    import pandas as pd
    from gradio_client import Client, handle_file

    from kdemo.modeling.classifier import DEFAULT_MODEL_ID

    df = pd.read_csv(SHARED_DATA / "sst2" / "train.csv").sample(frac=1.0, random_state=0).head(rows)
    path = Path(tempfile.mkdtemp()) / "sst2_slice.csv"
    df.to_csv(path, index=False)
    trainer = Client(url, verbose=False, ssl_verify=False)  # plain http on localhost: no CA bundle per request
    trainer.predict(handle_file(str(path)), None, 0.1, api_name="/load_data")
    trainer.predict(DEFAULT_MODEL_ID, 64, 32, 1e-4, 1, "auto", 0.1, False, api_name="/train")
    deadline = time.time() + 300
    while time.time() < deadline:  # wait until the job is past loading the model and trains
        status = trainer.predict(api_name="/training_status")[0]
        if "step" in status.lower() or "epoch" in status.lower() or status.startswith(("✅", "❌", "⏹️")):
            break
        time.sleep(0.5)
    return trainer


def _wait_training(trainer, timeout_s: float = 900.0) -> tuple[bool, str]:
    deadline = time.time() + timeout_s
    status = ""
    while time.time() < deadline:
        status = trainer.predict(api_name="/training_status")[0]
        if status.startswith(("✅", "❌", "⏹️")):
            return status.startswith("✅"), status.splitlines()[0][:160]
        time.sleep(1.0)
    return False, f"not finished after {timeout_s} s: {status[:120]}"


def run_clients(url: str, server_pid: int, folder: Path, n: int, args, texts: list[str]) -> list[dict]:
    """Both phases for ``n`` clients; one row per phase."""
    ctx = mp.get_context("spawn")
    procs_n = 1 if args.client == "http" else max(1, min(args.procs, n))
    barrier, results = ctx.Barrier(procs_n + 1), ctx.Queue()
    shares = [n // procs_n + (i < n % procs_n) for i in range(procs_n)]
    opts = {"seconds": args.seconds, "mode": args.mode, "period_s": args.period, "client": args.client,
            "ssl_verify": args.ssl_verify}
    procs = [ctx.Process(target=_client_proc, args=(url, str(folder), k, texts, opts, len(args.phases), barrier, results))
             for k in shares]
    for p in procs:
        p.start()
    rows = []
    for phase in args.phases:
        trainer = _start_training(url, args.train_rows) if phase == "training" else None
        barrier.wait(timeout=600)  # every session has loaded its model; all fire together
        _, cpu0 = _proc_stat(server_pid)  # after the loading (16 models hashed and saved), not before
        t0 = time.perf_counter()
        lat, errors, client_cpu = [], [], 0.0
        for _ in procs:
            _, part_lat, part_err, part_cpu = results.get(timeout=args.seconds + 600)
            lat += part_lat
            errors += part_err
            client_cpu += part_cpu
        wall = time.perf_counter() - t0
        rss1, cpu1 = _proc_stat(server_pid)
        row = {"clients": n, "mode": args.mode, "client": args.client, "phase": phase, "requests": len(lat), "errors": len(errors),
               "p50_s": float(np.percentile(lat, 50)) if lat else float("nan"),
               "p95_s": float(np.percentile(lat, 95)) if lat else float("nan"),
               "max_s": max(lat) if lat else float("nan"), "predictions_per_s": len(lat) / max(args.seconds, wall - 0.2),
               "server_cpu_ms_per_prediction": 1000 * (cpu1 - cpu0) / max(1, len(lat)),
               "client_cpu_ms_per_prediction": 1000 * client_cpu / max(1, len(lat)), "server_rss_mib": rss1,
               "first_errors": errors[:3]}
        if trainer is not None:
            row["training_finished"], row["training_status"] = _wait_training(trainer)
            trainer.close()
        rows.append(row)
        print(f"  {n} clients, {phase}: {row['requests']} predictions, {row['errors']} errors, "
              f"p95 {row['p95_s']:.3f} s" + (f", training finished: {row.get('training_finished')}" if trainer else ""),
              flush=True)
    for p in procs:
        p.join(60)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[16, 64], help="client counts to run")
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds each phase's clients loop")
    parser.add_argument("--mode", choices=["burst", "loop"], default="burst",
                        help="burst: all clients fire at once every --period seconds; loop: closed loops")
    parser.add_argument("--period", type=float, default=1.0, help="seconds between bursts (burst mode)")
    parser.add_argument("--client", choices=["http", "gradio"], default="http",
                        help="http: raw HTTP as the browser, N coroutines in one process; gradio: gradio_client threads")
    parser.add_argument("--ssl-verify", action="store_true",
                        help="gradio_client's default ssl_verify=True: each of its requests builds an httpx client "
                             "that loads the CA bundle (~45 ms of CPU), even for the plain-http local server")
    parser.add_argument("--procs", type=int, default=2, help="--client gradio: client processes (threads are spread)")
    parser.add_argument("--train-rows", type=int, default=2000, help="SST-2 rows the training session uploads")
    parser.add_argument("--model-dir", default=None, help="a fine-tuned predictor folder (default: MiniLM, 2-class head)")
    parser.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    parser.add_argument("--phases", nargs="+", choices=["idle", "training"], default=["idle", "training"],
                        help="phases to run, in order")
    args = parser.parse_args()
    texts = __import__("pandas").read_csv(SHARED_DATA / "sst2" / "test.csv").text.tolist()
    work = Path(tempfile.mkdtemp(prefix="kdemo-serve-load-"))
    folder = Path(args.model_dir) if args.model_dir else save_minilm(work / "minilm")
    data_dir = str(work / "data") if app_has_data_dir() else None
    port = args.port or _free_port()
    server = start_app(port, data_dir, work / "server-tmp")
    url = f"http://127.0.0.1:{port}/"
    rows = []
    try:
        for n in args.clients:
            rows += run_clients(url, server.pid, folder, n, args, texts)
    finally:
        server.terminate()
        server.wait(30)
        shutil.rmtree(work, ignore_errors=True)  # sessions' folders (one model copy each), the MiniLM folder
    print()
    print_table(rows, ["clients", "mode", "client", "phase", "requests", "errors", "p50_s", "p95_s", "max_s", "predictions_per_s",
                       "server_cpu_ms_per_prediction", "client_cpu_ms_per_prediction", "server_rss_mib",
                       "training_finished"])
    write_json(f"serve_load_{args.mode}" + ("" if args.client == "http" else "_gradio"), {"machine": machine(), "args": vars(args), "data_dir": bool(data_dir), "rows": rows})


if __name__ == "__main__":
    main()
