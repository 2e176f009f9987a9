"""Benchmarks 5 and 6 (placeholder while fan-out is brought up)."""


def broken(smoke, context):
    return []


def durability(smoke, context):
    return []


def close(context):
    if context.get("sink"):
        context["sink"].close()
    if context.get("env"):
        context["env"].close()
