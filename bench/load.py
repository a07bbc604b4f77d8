"""A small HTTP load generator (asyncio, raw sockets), run from its own process.

Keeps `concurrency` requests in flight for `seconds`, each on a new connection
(gunicorn's sync workers close the connection after each response), cycling
through the given requests. Reports requests per second, p50/p99 latency and the
statuses seen.

    .venv/bin/python bench/load.py --url http://127.0.0.1:8000 --token fct_... \\
        --path /fhir/Patient/ID1 --path /fhir/Patient/ID2 [--seconds 10] [--concurrency 8]
        [--paths-file FILE]

A write mix posts `--body FILE` to each path instead (`--method POST`).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: bytes = b""


@dataclass
class Result:
    seconds: float
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)

    @property
    def count(self) -> int:
        return len(self.latencies)

    @property
    def per_second(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    def percentile(self, fraction: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

    def summary(self) -> dict[str, object]:
        return {
            "requests": self.count,
            "per_second": round(self.per_second, 1),
            "p50_ms": round(self.percentile(0.50) * 1000, 1),
            "p99_ms": round(self.percentile(0.99) * 1000, 1),
            "statuses": dict(self.statuses),
        }


async def _one(host: str, port: int, request: Request, headers: bytes) -> int:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        head = (
            f"{request.method} {request.path} HTTP/1.1\r\nHost: {host}\r\n"
            f"Content-Length: {len(request.body)}\r\nConnection: close\r\n"
        ).encode()
        writer.write(head + headers + b"\r\n" + request.body)
        await writer.drain()
        response = await reader.read()
    finally:
        writer.close()
    return int(response[9:12]) if response[:5] == b"HTTP/" else 0


async def _run(
    url: str, token: str | None, requests: list[Request], seconds: float, concurrency: int
) -> Result:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    headers = b"Accept: application/fhir+json\r\n"
    if token:
        headers += f"Authorization: Bearer {token}\r\n".encode()
    if any(r.body for r in requests):
        headers += b"Content-Type: application/fhir+json\r\n"
    cycle = itertools.cycle(requests)
    result = Result(seconds)
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        while time.perf_counter() < deadline:
            request = next(cycle)
            started = time.perf_counter()
            try:
                status = await _one(host, port, request, headers)
            except OSError:
                status = 0
            result.latencies.append(time.perf_counter() - started)
            result.statuses[status] += 1

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    result.seconds = time.perf_counter() - started
    return result


def run(
    url: str,
    token: str | None,
    requests: list[Request],
    seconds: float = 10,
    concurrency: int = 8,
) -> Result:
    return asyncio.run(_run(url, token, requests, seconds, concurrency))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--token")
    parser.add_argument("--path", action="append", default=[])
    parser.add_argument(
        "--paths-file", type=Path, help="one path a line (for more paths than a command line holds)"
    )
    parser.add_argument("--method", default="GET")
    parser.add_argument("--body", help="a file sent as the body of every request")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=8)
    arguments = parser.parse_args()
    body = open(arguments.body, "rb").read() if arguments.body else b""  # noqa: SIM115
    paths = list(arguments.path)
    if arguments.paths_file:
        paths += arguments.paths_file.read_text().split()
    if not paths:
        parser.error("give --path or --paths-file")
    requests = [Request(arguments.method, path, body) for path in paths]
    result = run(arguments.url, arguments.token, requests, arguments.seconds, arguments.concurrency)
    json.dump(result.summary(), sys.stdout)
    print()


if __name__ == "__main__":
    main()
