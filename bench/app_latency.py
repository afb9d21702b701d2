"""How quickly the web app (`app.py`) is ready after launch, and how long one clip takes through its API.

Each run starts `python app.py --model MODEL --port P` in a fresh process, times it until the page answers (HTTP 200
on `/`), translates one fixture clip through the named API endpoint with `gradio_client` (the page's own path: upload,
queue, pipeline), and stops the app. The model is the demo's (`make demo` first) unless `--model` says otherwise.

    python bench/app_latency.py                         # the demo's model, 3 runs, asl_house.mp4
    python bench/app_latency.py --model DIR --runs 5
"""

import argparse
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


REPO_ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def one_run(model: str, clip: str, timeout: float) -> dict:
    from gradio_client import Client, handle_file

    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, str(REPO_ROOT / "app.py"), "--model", model, "--port", str(port)],
        cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.perf_counter() - started > timeout:
                raise RuntimeError(f"app.py did not start within {timeout:.0f} s")
            time.sleep(0.1)
        ready = time.perf_counter() - started
        client = Client(url, verbose=False)
        requested = time.perf_counter()
        text, timing = client.predict(handle_file(clip), api_name="/translate")
        request = time.perf_counter() - requested
    finally:
        process.terminate()
        process.wait(timeout=30)
    translate = float(re.search(r"in ([0-9.]+) s", timing).group(1))
    return {"ready_seconds": ready, "request_seconds": request, "translate_seconds": translate, "translation": text}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=str(REPO_ROOT / "outputs" / "demo" / "video_translation"))
    parser.add_argument("--clip", default=str(REPO_ROOT / "tests" / "fixtures" / "videos" / "asl_house.mp4"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--output", default=str(REPO_ROOT / "bench" / "results" / "app.json"))
    args = parser.parse_args(argv)
    if not Path(args.model).exists():
        raise SystemExit(f"No model at {args.model}: run `make demo` first, or pass --model.")
    runs = [one_run(args.model, args.clip, args.timeout) for _ in range(args.runs)]
    for number, run in enumerate(runs, start=1):
        print(
            f"run {number}: page ready {run['ready_seconds']:.1f} s; clip translated {run['translate_seconds']:.2f} s"
            f" (request {run['request_seconds']:.2f} s): {run['translation']}"
        )
    summary = {
        key: statistics.median(run[key] for run in runs)
        for key in ("ready_seconds", "request_seconds", "translate_seconds")
    }
    print("median: " + ", ".join(f"{key} {value:.2f}" for key, value in summary.items()))
    report = {
        "settings": {"model": os.path.relpath(args.model, REPO_ROOT), "clip": os.path.relpath(args.clip, REPO_ROOT),
                     "runs": args.runs},
        "environment": {"python": platform.python_version(), "cpu_count": os.cpu_count(),
                        "machine": platform.machine()},
        "runs": runs,
        "median": summary,
    }
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    return report


if __name__ == "__main__":
    main()
