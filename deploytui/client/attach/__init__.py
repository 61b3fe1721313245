"""``attach()``: one deployment's events as one stitched, resumable, exactly-once stream.

The public face of the subpackage; the story is told in :mod:`.attachment`. Its parts:

* :mod:`.attachment` — :class:`Attachment` and :func:`attach`: replay, live, reconnects, the end;
* :mod:`.state` — :class:`AttachState`, what the attachment is doing, for the UI;
* :mod:`.connection` — one event stream read into a queue by a background task (the stall clock);
* :mod:`.alignment` — pure: which events of an id-less (Harper) replay are new;
* :mod:`.backfill` — out-of-band reads: our server's events API, the terminal row, a lost id.
"""

from deploytui.client.attach.attachment import Attachment, attach
from deploytui.client.attach.backfill import find_deployment_id
from deploytui.client.attach.state import AttachState

__all__ = ["AttachState", "Attachment", "attach", "find_deployment_id"]
