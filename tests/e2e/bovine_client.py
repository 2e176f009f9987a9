"""What the e2e tests need from a bovine account beyond ../shared/peers/bovine_ctl.py; run it with
the bovine venv's python: bovine_client.py DOMAIN_URL SECRET CMD [ARG…]

  inbox N              the newest N inbox items, as bovine stored them (JSON)
  get URL              an object fetched by the bovine server on the account's behalf (proxyUrl)
  reply OBJECT TEXT    a public reply to OBJECT, addressed to its author; prints the reply's id

The last line is `RESULT <json>`, like bovine_ctl.py.
"""

import asyncio
import json
import sys

from bovine import BovineClient


async def inbox(client: BovineClient, count: str) -> list:
    """The newest items of the account's inbox, objects resolved."""
    items = []
    async for item in client.inbox():
        items.append(item)
        if len(items) >= int(count):
            break
    return items


async def reply(client: BovineClient, object_id: str, text: str) -> str:
    """Publish a public reply to object_id and return the reply's id."""
    original = await client.proxy(object_id)
    note = client.object_factory.reply(original, content=text).as_public().build()
    response = await client.send_to_outbox(client.activity_factory.create(note).build())
    response.raise_for_status()
    created = await client.get(response.headers["location"])
    obj = created.get("object")
    return obj.get("id") if isinstance(obj, dict) else obj


async def main(domain: str, secret: str, command: str, *args: str) -> None:
    """Run one command and print its RESULT line."""
    async with BovineClient(domain=domain, secret=secret) as client:
        if command == "inbox":
            result = await inbox(client, *args)
        elif command == "get":
            result = await client.proxy(args[0])
        elif command == "reply":
            result = await reply(client, *args)
        else:
            raise SystemExit(f"unknown command {command!r}")
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:]))
