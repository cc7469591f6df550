"""A local SMTP sink for the delivery benches, run in a process of its own.

`python -m bench.smtp_sink --port P --out counts.json [--delay 0.05] [--reuse-port]` accepts
every message (aiosmtpd on one asyncio loop, 127.0.0.1 only), counts the messages each
recipient received, and keeps nothing else: no parsing, no storage, so it costs as little per
message as aiosmtpd allows. A message counts once the server has taken all its DATA, just
before it answers 250: the point after which the sender may hold it as delivered.

One such process costs about 2 ms of CPU per message and, on a machine whose cores are shared
with many other processes, gets no more than its share of them: it then limits the rate of
every worker sending to it. With `--reuse-port` several sink processes listen on one port
(SO_REUSEPORT) and the kernel spreads connections among them, each counting its own; the
bench adds their counts up.

SIGUSR1 writes the counts so far to `--out`; SIGTERM writes them and exits. The file also
holds the sink's own CPU seconds, so the bench can tell whether the sink was the bottleneck.
`--delay` holds each message that long before answering 250, a slow mail relay.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
from collections import Counter
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session


class CountingHandler:
    """Counts each accepted message per recipient."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.counts: Counter[str] = Counter()
        self.messages = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        for recipient in envelope.rcpt_tos:
            self.counts[recipient] += 1
        self.messages += 1
        return "250 OK"


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def write_counts(handler: CountingHandler, out: Path) -> None:
    """Write the counts atomically: the bench may read the file while the next is written."""
    report = {"messages": handler.messages, "cpu_s": _cpu_seconds(), "counts": handler.counts}
    partial = out.with_suffix(".part")
    partial.write_text(json.dumps(report))
    os.replace(partial, out)


def read_counts(out: Path) -> tuple[int, float, dict[str, int]]:
    """(messages, sink CPU seconds, recipient → messages) as the sink last wrote them."""
    report: dict[str, Any] = json.loads(out.read_text())
    return report["messages"], report["cpu_s"], report["counts"]


async def serve(port: int, out: Path, delay: float, reuse_port: bool) -> None:
    loop = asyncio.get_running_loop()
    handler = CountingHandler(delay)
    # No 8BITMIME or SMTPUTF8 negotiation is needed: the messages are ASCII (MIME-encoded).
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="sink.bench.example.org", loop=loop),
        host="127.0.0.1",
        port=port,
        backlog=128,
        reuse_port=reuse_port,
    )
    stopped = asyncio.Event()
    loop.add_signal_handler(signal.SIGUSR1, write_counts, handler, out)
    loop.add_signal_handler(signal.SIGTERM, stopped.set)
    loop.add_signal_handler(signal.SIGINT, stopped.set)
    write_counts(handler, out)  # the file's presence tells the bench the sink is listening
    await stopped.wait()
    server.close()
    write_counts(handler, out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--reuse-port", action="store_true")
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.out, args.delay, args.reuse_port))


if __name__ == "__main__":
    main()
