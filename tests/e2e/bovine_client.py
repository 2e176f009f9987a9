"""What the e2e tests need from a bovine account beyond ../shared/peers/bovine_ctl.py; run it with
the bovine venv's python: bovine_client.py DOMAIN_URL SECRET CMD [ARG…]

  inbox N              the newest N inbox items, as bovine stored them (JSON)
  get URL              an object fetched by the bovine server on the account's behalf (proxyUrl)
  reply OBJECT TEXT    a public reply to OBJECT, addressed to its author; prints the reply's id
  like OBJECT          a Like of OBJECT sent to its author; prints the Like's id
  announce OBJECT      a public boost (Announce) of OBJECT, its author in cc; prints the Announce's id

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


async def interact(client: BovineClient, kind: str, object_id: str) -> str:
    """Like or Announce object_id, addressed so that bovine delivers it to the author."""
    author = (await client.proxy(object_id))["attributedTo"]
    author = author["id"] if isinstance(author, dict) else author
    if kind == "like":
        activity = client.activity_factory.like(object_id, to={author}).build()
    else:
        activity = client.activity_factory.announce(object_id, cc={author}).as_public().build()
    response = await client.send_to_outbox(activity)
    response.raise_for_status()
    return response.headers["location"]


async def main(domain: str, secret: str, command: str, *args: str) -> None:
    """Run one command and print its RESULT line."""
    async with BovineClient(domain=domain, secret=secret) as client:
        if command == "inbox":
            result = await inbox(client, *args)
        elif command == "get":
            result = await client.proxy(args[0])
        elif command == "reply":
            result = await reply(client, *args)
        elif command in ("like", "announce"):
            result = await interact(client, command, *args)
        else:
            raise SystemExit(f"unknown command {command!r}")
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:]))
