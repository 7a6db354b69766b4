"""The guard in conftest really blocks outside connections."""

import socket

import pytest


def test_outside_connection_is_refused() -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with pytest.raises(AssertionError, match="loopback"):
        s.connect(("192.0.2.1", 443))  # TEST-NET-1, never routed
    s.close()


def test_loopback_is_allowed() -> None:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    c = socket.socket()
    c.connect(srv.getsockname())
    c.close()
    srv.close()


def test_unit_tests_cannot_start_the_embedded_server() -> None:
    from simulator.config import load_settings
    from simulator.llm.factory import embedded_server_for

    server = embedded_server_for("caller", load_settings())
    assert server is not None
    with pytest.raises(AssertionError, match="FakeChatModel"):
        server.start()
