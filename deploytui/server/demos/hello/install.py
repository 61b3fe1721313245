"""Demo install: a quick, successful npm-like install (a few lines)."""

import time

for line in (
    "npm http fetch GET 200 https://registry.npmjs.org/harperdb 38ms (cache hit)",
    "npm http fetch GET 200 https://registry.npmjs.org/ms 12ms (cache hit)",
    "",
    "added 2 packages, and audited 3 packages in 412ms",
    "",
    "found 0 vulnerabilities",
):
    print(line)
    time.sleep(0.05)
