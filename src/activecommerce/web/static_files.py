"""`/static/...`: the console's own CSS and JS and the vendored libraries (whose paths
carry their versions, so they may be cached for long)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC_DIR = Path(__file__).parent / "static"
VERSIONED = "vendor/"  # a file here changes only with its folder's version


class Static(StaticFiles):
    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        relative = Path(full_path).relative_to(STATIC_DIR).as_posix()
        # The console's own files change with a release: revalidate them (ETag) each time.
        long = relative.startswith(VERSIONED)
        response.headers["Cache-Control"] = (
            "public, max-age=31536000, immutable" if long else "no-cache"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def static_app(**kwargs: Any) -> Static:
    return Static(directory=STATIC_DIR, **kwargs)
