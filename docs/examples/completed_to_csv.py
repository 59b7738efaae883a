"""Every completed answer, as a CSV row: an external analytics consumer of Parley's events.

A durable JetStream consumer on the documented subject ``parley.chat.*.generation.completed``:
it remembers what it has written, so each run appends only answers completed since the last
(run it from cron, or leave it running). Needs only ``nats-py``; the events are plain JSON.

    python completed_to_csv.py --nats nats://127.0.0.1:4222 --out answers.csv [--once]
"""

import argparse
import asyncio
import csv
import json
import os

import nats
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

SUBJECT = "parley.chat.*.generation.completed"
COLUMNS = [
    "stream_seq", "occurred_at", "session_id", "user_id", "message_id", "llm_provider", "llm_model",
    "prompt_tokens", "completion_tokens", "time_to_first_token_ms", "total_ms", "finish_reason", "characters",
]  # fmt: skip


def row(seq: int, subject: str, event: dict) -> list:
    # Fields at their default are left out of the JSON: read with defaults. The session is
    # named by the subject, parley.chat.<session_id>.generation.completed (older events repeat it).
    usage, timings = event.get("usage", {}), event.get("timings", {})
    return [
        seq, event["occurred_at"], subject.split(".")[2], event["user_id"], event["message_id"],
        event.get("llm_provider"), event.get("llm_model"),
        usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0),
        timings.get("time_to_first_token_ms"), timings.get("total_ms", 0),
        event.get("finish_reason"), len(event.get("content", "")),
    ]  # fmt: skip


async def consume(url: str, f, durable: str, once: bool) -> int:
    nc = await nats.connect(url)
    js = nc.jetstream()
    config = ConsumerConfig(
        durable_name=durable, deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.EXPLICIT, filter_subject=SUBJECT
    )
    sub = await js.pull_subscribe(SUBJECT, durable=durable, stream="PARLEY_CHAT", config=config)
    writer, written = csv.writer(f), 0
    while True:
        try:
            batch = await sub.fetch(100, timeout=2)
        except NatsTimeout:
            if once:
                break  # caught up
            continue
        for msg in batch:
            writer.writerow(row(msg.metadata.sequence.stream, msg.subject, json.loads(msg.data)))
            written += 1
        f.flush()  # written before acknowledged: a crash repeats rows, never loses them
        for msg in batch:
            await msg.ack()
        if once and batch[-1].metadata.num_pending == 0:
            break
    await nc.close()
    return written


def main(url: str, out: str, durable: str, once: bool) -> int:
    new_file = not os.path.exists(out) or os.path.getsize(out) == 0
    with open(out, "a", newline="") as f:
        if new_file:
            csv.writer(f).writerow(COLUMNS)
        return asyncio.run(consume(url, f, durable, once))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nats", default="nats://127.0.0.1:4222")
    parser.add_argument("--out", default="answers.csv")
    parser.add_argument("--durable", default="analytics-csv", help="consumer name: its position is kept by NATS")
    parser.add_argument("--once", action="store_true", help="stop when caught up instead of following")
    args = parser.parse_args()
    count = main(args.nats, args.out, args.durable, args.once)
    print(f"{count} answers written to {args.out}")
