"""kombu's filesystem broker (the zero-setup default), with messages written atomically.

kombu writes a message file in place: a worker listing the folder can take the file before its
bytes are written, read nothing, and stop with "Unrecoverable error: JSONDecodeError". Here a
message is written under a name the reader skips and renamed into place when complete (a rename
is atomic on one file system), so a reader sees a whole message or none. ``crm.celery`` makes
``filesystem://`` mean this transport in every process that uses the Celery app.
"""

import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        """Put ``payload`` onto ``queue``: written as ``.<name>.part``, then renamed."""
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        # The reader takes only "<anything>.<queue>.msg" names; this one ends in ".part".
        partial = os.path.join(self.data_folder_out, f".{name}.part")
        try:
            with open(partial, "wb") as f:
                f.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
