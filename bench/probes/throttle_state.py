"""Set the public-read throttle's counters of the bench's address (127.0.0.1) as a client flooding
for over a minute leaves them (`flooded`: both windows at twice the rate; the throttle counts the
requests it refuses, so a client that never pauses stays refused), or clear them (`clear`: a client
that has sent nothing yet). Uses the throttle's own key and the server's settings (its cache prefix
and rate), so the server under test reads exactly these counters.

    python -m bench.probes.throttle_state flooded|clear   (JSON out: {"key", "rate"})
"""

import json
import sys
import time

import django


def main() -> None:
    django.setup()
    from django.test import RequestFactory

    from breederhq import request_redis
    from breederhq.api.throttling import PublicReadIPThrottle

    throttle = PublicReadIPThrottle()
    request = RequestFactory().get("/", REMOTE_ADDR="127.0.0.1")
    prefix = f"{request_redis.key_prefix()}:{throttle.get_cache_key(request, None)}:"
    window = int(time.time() // throttle.duration)
    keys = [f"{prefix}{window + offset}" for offset in (-1, 0, 1)]
    client = request_redis.client()
    client.delete(*keys)
    if sys.argv[1] == "flooded":
        for key in keys[:2]:
            client.set(key, 2 * throttle.num_requests, ex=2 * throttle.duration)
    print(json.dumps({"key": prefix, "rate": throttle.rate}))


if __name__ == "__main__":
    main()
