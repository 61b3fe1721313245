"""Demo install: about 5 000 npm-like lines in a few seconds, with coloured warnings on stderr."""

import random
import sys
import time

YELLOW, MAGENTA, GREEN, DIM, RESET = "\x1b[33m", "\x1b[35m", "\x1b[32m", "\x1b[2m", "\x1b[0m"
WORDS = ["lodash", "express", "debug", "ms", "chalk", "semver", "glob", "minimatch", "yargs", "uuid",
         "ws", "qs", "mime", "bytes", "depd", "cookie", "accepts", "negotiator", "statuses", "etag"]
DEPRECATED = {"request": "request has been deprecated, see https://github.com/request/request/issues/3142",
              "uuid@3.4.0": "Please upgrade  to version 7 or higher.",
              "inflight@1.0.6": "This module is not supported, and leaks memory. Do not use it."}
TOTAL = 5000

rng = random.Random(7)
started = time.monotonic()
for i in range(1, TOTAL + 1):
    name = f"{rng.choice(WORDS)}-{i % 97}"
    if i % 250 == 0:
        pkg, why = rng.choice(list(DEPRECATED.items()))
        print(f"npm {YELLOW}WARN{RESET} {MAGENTA}deprecated{RESET} {pkg}: {why}", file=sys.stderr)
    elif i % 40 == 0:
        print(f"npm {DIM}timing{RESET} reifyNode:node_modules/{name} Completed in {rng.randint(1, 90)}ms")
    else:
        print(f"npm http fetch GET {GREEN}200{RESET} https://registry.npmjs.org/{name} {rng.randint(3, 80)}ms (cache hit)")
    if i % 50 == 0:
        time.sleep(0.03)  # output arrives in bursts, as npm's does
elapsed = time.monotonic() - started
print("")
print(f"added {TOTAL - TOTAL // 250} packages, and audited {TOTAL - TOTAL // 250 + 1} packages in {elapsed:.0f}s")
print("")
print(f"{TOTAL // 500} packages are looking for funding")
print("  run `npm fund` for details")
print("")
print(f"found {GREEN}0{RESET} vulnerabilities")
