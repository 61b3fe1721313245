"""Demo install: succeeds; the deploy then fails in load because config.yaml is broken."""

import time

for line in (
    "npm http fetch GET 200 https://registry.npmjs.org/harperdb 35ms (cache hit)",
    "",
    "added 1 package, and audited 2 packages in 298ms",
    "",
    "found 0 vulnerabilities",
):
    print(line)
    time.sleep(0.05)
