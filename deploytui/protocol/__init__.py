"""Pure protocol data shared by the server and the client: no I/O, no Textual."""
