"""An email's HTML as a page of its own, for a sandboxed <iframe> of a console page
(the campaign preview, the Sandbox inbox). Its policy is its own, stricter than the
console's and never loosened for it: no script, no request out (images from `data:`
only, or also `https:` for a preview), inline styles allowed (emails are styled
inline), framed by this site only, sandboxed even if opened on its own."""

from __future__ import annotations

from starlette.responses import HTMLResponse


def email_frame(html: str, *, remote_images: bool = False) -> HTMLResponse:
    images = "data: https:" if remote_images else "data:"
    return HTMLResponse(
        html,
        headers={
            "Content-Security-Policy": (
                f"default-src 'none'; img-src {images}; style-src 'unsafe-inline';"
                " frame-ancestors 'self'; form-action 'none'; base-uri 'none'; sandbox"
            ),
            "X-Frame-Options": "SAMEORIGIN",
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff",
        },
    )
