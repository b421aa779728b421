"""The fixed bench logins (a tenant owner of bench-7, the provider of the deep message thread),
made once: bench.generate_logins.ensure_logins.

    python -m bench.probes.logins   (JSON out)
"""

import json

from bench.generate_logins import ensure_logins


def main() -> None:
    print(json.dumps(ensure_logins()))


if __name__ == "__main__":
    main()
