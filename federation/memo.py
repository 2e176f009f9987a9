"""A cache for pure functions of text that attackers may choose (values read before a request's
signature is checked): only calls of a usual length are kept, so long values cannot fill it."""

from functools import lru_cache, wraps


def keep_short_calls(*, max_chars: int, maxsize: int):
    """lru_cache(maxsize) for calls whose text arguments total at most max_chars characters;
    longer calls run uncached. Exceptions are never kept."""

    def decorate(func):
        kept = lru_cache(maxsize=maxsize)(func)

        @wraps(func)
        def call(*args):
            if sum(len(arg) for arg in args if isinstance(arg, str)) > max_chars:
                return func(*args)
            return kept(*args)

        call.cache_info = kept.cache_info
        return call

    return decorate
