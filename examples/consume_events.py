"""Another system consuming DocuVault events with nothing but ``docuvault-contracts`` (and a
RabbitMQ client): bind your own queue to the ``docuvault.events`` topic exchange.

    python examples/consume_events.py amqp://guest:guest@127.0.0.1:5672/ "document.#" --count 1

Each line printed is one event: its type, subject and the typed payload.
"""

import argparse
import asyncio

import aio_pika

from docuvault.contracts import MalformedEvent, decode
from docuvault.contracts.events import DocumentUploaded, TextExtracted


async def main(url: str, binding: str, count: int) -> None:
    connection = await aio_pika.connect_robust(url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange("docuvault.events")
        # a durable queue with a name of your own keeps events while you are away; this
        # example uses a private one that disappears with it
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind(exchange, binding)
        print("listening", flush=True)
        seen = 0
        async with queue.iterator() as messages:
            async for message in messages:
                async with message.process():
                    try:
                        event = decode(message.body)
                    except MalformedEvent as exc:  # e.g. a newer version you don't know yet
                        print(f"skipped: {exc}", flush=True)
                        continue
                    match event.data:
                        case DocumentUploaded(filename=name, size_bytes=size):
                            detail = f"{name} ({size} bytes)"
                        case TextExtracted(page_count=pages, language=lang):
                            detail = f"{pages} page(s), language {lang}"
                        case _:
                            detail = type(event.data).__name__
                    print(f"{event.type} {event.subject} {detail}", flush=True)
                seen += 1
                if seen >= count:
                    return


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("binding", nargs="?", default="#")
    parser.add_argument("--count", type=int, default=10**9)
    args = parser.parse_args()
    asyncio.run(main(args.url, args.binding, args.count))
