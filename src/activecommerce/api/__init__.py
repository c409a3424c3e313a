"""The HTTP layer above the domains: the generic routes of a collection, request
parameters, responses. It may import any domain (auth, accounts); `kit/` imports none."""
