"""Plumbing every chat adapter shares, written once.

- ``platform``: how a platform declares itself (config section, serve, doctor, credential check)
- ``host``: what an adapter is given, and ``service_of`` for the chat-service port it uses
- ``intake``: which attached files are worth downloading (defers to ``orchestrator.media``)
- ``status``: the coalescing status message over send/edit callables
- ``turn``: the turn's error boundary
"""
