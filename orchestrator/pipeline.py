"""The Orchestrator: one request in, one reply out (plan → select → execute → respond).

Contract for adapters::

    reply = await orchestrator.handle(request, progress)

``progress`` (optional) receives ``ProgressEvent``s: PLANNED once the plan is known, TASK each
time a task changes state, DELTA chunks of the streamed answer, DONE with the final reply.
``handle`` never raises for user-facing failures: a request that cannot be answered comes back
as a ``Reply`` with ``error`` set and ``text`` holding a readable message.
"""
