"""The filesystem broker writes each message whole, under a name the reader skips until done."""

import os

from kombu import Connection

from crm.broker import Transport


def test_filesystem_means_the_atomic_transport_and_messages_round_trip(tmp_path):
    folders = {"data_folder_in": str(tmp_path), "data_folder_out": str(tmp_path)}
    with Connection("filesystem://", transport_options=folders) as connection:
        assert isinstance(connection.transport, Transport)
        queue = connection.SimpleQueue("atomic")
        queue.put({"hello": "world"})
        names = os.listdir(tmp_path)
        assert [n for n in names if n.endswith(".atomic.msg")] and not [
            n for n in names if n.endswith(".part")
        ]
        assert queue.get(timeout=1).payload == {"hello": "world"}
        queue.close()
