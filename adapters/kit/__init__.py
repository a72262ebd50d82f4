"""Plumbing every chat adapter shares, written once: the platform declaration and config section
(``platform``), the host an adapter is given and the chat service it uses (``host``)."""
