"""The suite's own client leaves no temporary file for the garbage collector.

A photograph posted in a test is spooled by Werkzeug to a temporary file; left
open, its ResourceWarning surfaced later inside another test's setup and failed it
(seen on PostgreSQL in CI). This proves the large body is closed when the client
returns.
"""

from __future__ import annotations

import gc
import io
import warnings

from flask import Flask, request


def test_a_large_posted_body_is_closed_when_the_client_returns() -> None:
    app = Flask(__name__)

    @app.post("/upload")
    def upload() -> str:
        return str(len(request.files["photo"].read()))

    big = b"\xff" * (700 * 1024)  # above Werkzeug's 500 KB spooling threshold
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        response = app.test_client().post("/upload", data={"photo": (io.BytesIO(big), "p.jpg")})
        assert response.get_data(as_text=True) == str(len(big))
        del response
        gc.collect()
    unclosed = [w for w in caught if issubclass(w.category, ResourceWarning)]
    assert unclosed == []
