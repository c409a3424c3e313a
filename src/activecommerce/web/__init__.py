"""The server-rendered pages: sign-in, OAuth consent, and the web console.

How to add a console page (router module, context, CSRF, flash, form errors, partials,
tests, axe, screenshots): web/README.md, beside this file."""
