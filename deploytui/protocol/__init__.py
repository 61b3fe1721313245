"""The protocol shared by the server and the client: data, wire formats and the rules both follow.

No Textual and no network. Files are read only where both sides must agree on their bytes:
local.py (the data dir's ``server.json`` and lock) and tarpack.py (a directory packed for deploy).
"""
