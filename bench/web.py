"""Benchmarks 2, 3 and 4 (placeholder)."""


class Unavailable(Exception):
    pass


def inbox(smoke, runs):
    raise Unavailable("not written yet")


def read_path(smoke, runs):
    raise Unavailable("not written yet")


def memory(smoke, runs):
    raise Unavailable("not written yet")
