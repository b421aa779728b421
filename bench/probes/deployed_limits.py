"""The limits on public reads as deployed (the settings' defaults, or the environment's): the
public-read throttle's rate per client address and the uncached listing searches one client may run
at once. The bench lifts both for its throughput figures (its clients share one address) and puts
them back, scaled to its clients, where the limits are what is measured (bench/search.py).

    python -m bench.probes.deployed_limits   (JSON out: {"public_read_ip", "concurrent_per_client"})
"""

import json

import django


def main() -> None:
    django.setup()
    from django.conf import settings

    print(
        json.dumps(
            {
                "public_read_ip": settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["public_read_ip"],
                "concurrent_per_client": settings.LISTING_SEARCH_CONCURRENT_PER_CLIENT,
            }
        )
    )


if __name__ == "__main__":
    main()
